#!/usr/bin/env bash
# bench/instructions.sh — user-space instructions per request, counted by
# valgrind's callgrind, for this build and a fixed baseline build.
#
# Usage: bench/instructions.sh        (from anywhere; about 10 minutes after the builds)
#
# Why this exists: on this shared 2-core machine wall-clock figures move by
# 10–20 % from run to run, so a change of a few percent cannot be seen in
# them, and a chain of "within noise" steps went by unnoticed. Instruction
# counts for a fixed number of requests repeat to about 0.2 %, whatever
# else the machine does. Comparing with a fixed baseline commit (not with
# the previous one) shows what the steps add up to.
#
# What it does: builds this tree in release, and the baseline commit
# (BASELINE, default d36b1e2) in release from a worktree under
# target/instructions/ with its own target directory. For each build and
# each request below it bootstraps a fresh SQLite database, starts
# `lynk serve` under callgrind with counting off, sends WARMUP requests,
# turns counting on, sends REQUESTS requests over CONNECTIONS keep-alive
# connections (bench/instructions_client.py, which fails on any answer
# that is not a 200 without errors), turns counting off and prints the
# instructions per request:
#   organization, warn       `{ organization { id name } }`, RUST_LOG=warn
#   organization, info       the same with the default log (one line per
#                            request, standard error to a file)
#   viewer, warn             `{ viewer { kind permissions } }`
#   50 tokens, warn          `organization { tokens(first: 50) { … role
#                            { name } createdBy { email } } }`, 50 service
#                            tokens created through the API first
# The table goes to standard output; the processes it started are stopped
# on exit, Ctrl-C included.
#
# Settings (environment): BASELINE (a commit, default d36b1e2), REQUESTS
# (default 2000; 200 for the token list), WARMUP (default 200),
# CONNECTIONS (default 16), SKIP_BUILD=1 (use the existing builds), ONLY
# (an extended regular expression over the row labels), PROFILE_DIR (keeps
# each run's callgrind file there, for callgrind_annotate --inclusive=yes).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

log() { printf 'instructions: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BASELINE=${BASELINE:-d36b1e2}
REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-200}
CONNECTIONS=${CONNECTIONS:-16}
ONLY=${ONLY:-.}

command -v valgrind >/dev/null || die "valgrind is missing (apt-get install valgrind)"
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"

WORK=$ROOT/target/instructions
BASE_SRC=$WORK/baseline-$BASELINE
BASE_TARGET=$WORK/baseline-target
mkdir -p "$WORK"

if [[ -z ${SKIP_BUILD:-} ]]; then
    log "building this tree (release)"
    cargo build --release --locked --quiet
    if [[ ! -d $BASE_SRC ]]; then
        git worktree add --detach "$BASE_SRC" "$BASELINE" >/dev/null
    fi
    log "building the baseline $BASELINE (release)"
    CARGO_TARGET_DIR=$BASE_TARGET cargo build --release --locked --quiet \
        --manifest-path "$BASE_SRC/Cargo.toml"
fi
CURRENT_BIN=$ROOT/target/release/lynk
BASE_BIN=$BASE_TARGET/release/lynk
[[ -x $CURRENT_BIN && -x $BASE_BIN ]] || die "missing builds; run without SKIP_BUILD"

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

gql() { # port token query
    curl -sf "http://127.0.0.1:$1/lynkapi" -H "Authorization: Bearer $2" \
        -H 'Content-Type: application/json' -d "$(jq -nc --arg q "$3" '{query: $q}')"
}

# measure BINARY RUST_LOG QUERY REQUESTS SEED_TOKENS NAME → instructions per request
measure() {
    local bin=$1 filter=$2 query=$3 requests=$4 seed=$5 name=$6
    local dir port token pid out
    dir=$(mktemp -d "$WORK/run.XXXXXX")
    local db="sqlite://$dir/lynk.db?mode=rwc"
    token=$(RUST_LOG=warn "$bin" bootstrap --org Bench --email bench@lynk.test --json \
        --database-url "$db" </dev/null | jq -r .token)
    port=$(free_port)
    out=$dir/callgrind.out
    RUST_LOG=$filter valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$out" "$bin" serve --listen "127.0.0.1:$port" \
        --database-url "$db" >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.2
    done
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || die "lynk did not start: $(tail -5 "$dir/stderr")"
    if ((seed > 0)); then
        local role
        role=$(gql "$port" "$token" '{ organization { roles { id name } } }' |
            jq -r '.data.organization.roles[] | select(.name == "viewer") | .id')
        for i in $(seq 1 "$seed"); do
            gql "$port" "$token" "mutation { createServiceToken(input: {name: \"t$i\", roleId: \"$role\"}) { secret } }" >/dev/null
        done
    fi
    python3 "$ROOT/bench/instructions_client.py" "$port" "$token" "$query" "$WARMUP" "$CONNECTIONS"
    callgrind_control -i on "$pid" >/dev/null 2>&1
    python3 "$ROOT/bench/instructions_client.py" "$port" "$token" "$query" "$requests" "$CONNECTIONS"
    callgrind_control -i off "$pid" >/dev/null 2>&1
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    local total
    total=$(awk '/^totals:/ { print $2; exit }' "$out")
    [[ -n $total ]] || die "no callgrind total in $out"
    if [[ -n ${PROFILE_DIR:-} ]]; then
        mkdir -p "$PROFILE_DIR"
        cp "$out" "$PROFILE_DIR/$name.callgrind"
    fi
    rm -rf "$dir"
    echo $((total / requests))
}

ORG='query { organization { id name } }'
VIEWER='{ viewer { kind permissions } }'
TOKENS='{ organization { tokens(first: 50) { edges { node { id name kind status hint createdAt role { name } createdBy { email } } } } } }'

printf '%-22s %14s %14s %8s\n' request "baseline $BASELINE" "this build" ratio
row() { # label filter query requests seed
    local label=$1
    [[ $label =~ $ONLY ]] || return 0
    local base now
    local name=${label//[^a-z0-9]/-}
    base=$(measure "$BASE_BIN" "$2" "$3" "$4" "$5" "$name-baseline")
    now=$(measure "$CURRENT_BIN" "$2" "$3" "$4" "$5" "$name-this")
    printf '%-22s %14s %14s %8s\n' "$label" "$base" "$now" \
        "$(awk -v a="$now" -v b="$base" 'BEGIN { printf "%.3f", a / b }')"
}
row "organization, warn" warn "$ORG" "$REQUESTS" 0
row "organization, info" info "$ORG" "$REQUESTS" 0
row "viewer, warn" warn "$VIEWER" "$REQUESTS" 0
row "50 tokens, warn" warn "$TOKENS" $((REQUESTS / 10)) 50
