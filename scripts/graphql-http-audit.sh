#!/usr/bin/env bash
# scripts/graphql-http-audit.sh — the graphql-http audit suite against lynk.
#
# Why this exists: docs/DESIGN.md §4.2 promises GraphQL over HTTP with its SHOULDs.
# graphql-http's `serverAudits` is the reference check of that spec (the
# same audits its maintainers publish for other servers); this runs every
# audit against a fresh `lynk serve` and fails on any result that is not
# "ok": MUST failures, SHOULD warnings and MAY notices alike.
#
# What it does: installs graphql-http from the committed lockfile
# (scripts/graphql-http/package-lock.json, `npm ci`, from the npm registry)
# when it is missing, starts the debug binary on a temporary SQLite database
# and a free port, takes the bootstrap token from the first start's banner,
# and runs scripts/graphql-http/audit.mjs with it. Needs node and npm.
#
# Usage: scripts/graphql-http-audit.sh   (LYNK_BIN overrides $CARGO_TARGET_DIR/debug/lynk)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
BIN=${LYNK_BIN:-${CARGO_TARGET_DIR:-target}/debug/lynk}
[[ $BIN == /* ]] || BIN=$REPO/$BIN

die() { printf 'graphql-http-audit: %s\n' "$*" >&2; exit 1; }

[[ -x $BIN ]] || die "no lynk binary at $BIN (run cargo build, or set LYNK_BIN)"
command -v node >/dev/null || die "node is needed (Debian: apt-get install nodejs npm)"
if [[ ! -d scripts/graphql-http/node_modules/graphql-http ]]; then
    (cd scripts/graphql-http && npm ci --no-audit --no-fund --loglevel=error)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lynk-audit.XXXXXX")
SERVER_PID=
cleanup() {
    local status=$?
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if ((status != 0)) && [[ -s $WORK/server.stderr ]]; then
        tail -n 20 "$WORK/server.stderr" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN" serve --listen 127.0.0.1:0 --database-url "sqlite://$WORK/lynk.db?mode=rwc" \
    >"$WORK/server.stdout" 2>"$WORK/server.stderr" &
SERVER_PID=$!

ADDRESS=
for _ in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "lynk serve exited at startup"
    ADDRESS=$(grep -oE 'listening on [0-9.:]+' "$WORK/server.stderr" "$WORK/server.stdout" 2>/dev/null |
        head -n1 | sed 's/.*listening on //') || true
    [[ -n $ADDRESS ]] && grep -q 'export LYNK_TOKEN=' "$WORK/server.stdout" && break
    sleep 0.1
done
[[ -n $ADDRESS ]] || die "could not find the address lynk listens on in its log"
TOKEN=$(sed -n 's/.*export LYNK_TOKEN=\([^ ]*\).*/\1/p' "$WORK/server.stdout")
[[ -n $TOKEN ]] || die "the first start's banner has no token"

LYNK_URL="http://$ADDRESS/lynkapi" LYNK_TOKEN="$TOKEN" node scripts/graphql-http/audit.mjs
