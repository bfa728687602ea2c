#!/usr/bin/env bash
# fuzz.sh — fuzz the credential parser and header handling for a bounded time.
#
# Usage: scripts/fuzz.sh [seconds]        (default: FUZZ_SECONDS or 300)
#
# Why this exists: the property tests beside src/auth/token_format.rs and
# src/auth/credential.rs (`mod proptests`) run 2000 cases each in the normal
# `cargo test`. This script runs just those, with many more cases per round
# (PROPTEST_CASES, default 10000: a round takes well under a minute on 2 cores),
# round after round with fresh random seeds, until the time is up; the last
# round may run past it. It stops at the first failure, which proptest
# shrinks to a minimal input and prints; the exit code is non-zero then.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-${FUZZ_SECONDS:-300}}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: $0 [seconds]" >&2; exit 2; }
export PROPTEST_CASES="${PROPTEST_CASES:-10000}"

# Build first, so that compiling does not eat into the fuzzing time.
cargo test --package lynk --lib --no-run --quiet

deadline=$((SECONDS + seconds))
round=0
while ((SECONDS < deadline)); do
    round=$((round + 1))
    echo "fuzz.sh: round $round, $PROPTEST_CASES cases per property, $((deadline - SECONDS))s left" >&2
    cargo test --package lynk --lib --quiet -- proptests
done
echo "fuzz.sh: $round rounds in ${seconds}s, no failure" >&2
