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
# A second table, for this build only, compares the first uses of many
# tokens with the reuse of one (each row DISTINCT_TOKENS requests of
# `{ organization { id name } }`, warn, counted until FLUSH_WAIT seconds
# after the last answer, so the lastUsedAt writes of the window, one per
# second, are in the count):
#   1 token reused           the bootstrap token, already recorded
#   N distinct tokens, first use
#                            DISTINCT_TOKENS tokens stored before the
#                            server starts (examples/bench_tokens.rs), each
#                            sent once, so each is recorded and written
# The tables go to standard output; the processes it started are stopped
# on exit, Ctrl-C included.
#
# Settings (environment): BASELINE (a commit, default d36b1e2),
# BASELINE_BIN (a lynk binary to compare with instead, not built), REQUESTS
# (default 2000; 200 for the token list), WARMUP (default 200),
# CONNECTIONS (default 16), SKIP_BUILD=1 (use the existing builds), ONLY
# (an extended regular expression over the row labels of both tables),
# PROFILE_DIR (keeps each run's callgrind file there, for
# callgrind_annotate --inclusive=yes), DATABASE (sqlite, the default, or
# postgres: every server then runs on a fresh database of a throwaway
# cluster from scripts/with-postgres.sh, or of the server
# LYNK_TEST_DATABASE_URL names; callgrind counts lynk's instructions
# only, not PostgreSQL's, while SQLite runs inside lynk and is counted),
# DISTINCT_TOKENS (default 10000; 0 leaves the second table out),
# FLUSH_WAIT (default 2.5).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DATABASE=${DATABASE:-sqlite}
case $DATABASE in
sqlite) ;;
postgres)
    if [[ -z ${LYNK_TEST_DATABASE_URL:-} ]]; then
        exec "$ROOT/scripts/with-postgres.sh" "$ROOT/bench/instructions.sh" "$@"
    fi
    ;;
*)
    printf 'instructions: error: DATABASE is sqlite or postgres, not %s\n' "$DATABASE" >&2
    exit 2
    ;;
esac

log() { printf 'instructions: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BASELINE=${BASELINE:-d36b1e2}
REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-200}
CONNECTIONS=${CONNECTIONS:-16}
ONLY=${ONLY:-.}
DISTINCT_TOKENS=${DISTINCT_TOKENS:-10000}
FLUSH_WAIT=${FLUSH_WAIT:-2.5}

command -v valgrind >/dev/null || die "valgrind is missing (apt-get install valgrind)"
command -v jq >/dev/null || die "jq is missing (apt-get install jq)"
PSQL=""
if [[ $DATABASE == postgres ]]; then
    PSQL="$(command -v psql 2>/dev/null || true)"
    for candidate in /usr/lib/postgresql/*/bin/psql; do
        [[ -n $PSQL ]] && break
        [[ -x $candidate ]] && PSQL=$candidate
    done
    [[ -x $PSQL ]] || die "psql not found (it comes with PostgreSQL)"
elif ((DISTINCT_TOKENS > 0)); then
    command -v sqlite3 >/dev/null || die "sqlite3 is missing (apt-get install sqlite3)"
fi

WORK=$ROOT/target/instructions
BASE_SRC=$WORK/baseline-$BASELINE
BASE_TARGET=$WORK/baseline-target
mkdir -p "$WORK"

if [[ -z ${SKIP_BUILD:-} ]]; then
    log "building this tree (release)"
    cargo build --release --locked --quiet
    if [[ -z ${BASELINE_BIN:-} ]]; then
        if [[ ! -d $BASE_SRC ]]; then
            git worktree add --detach "$BASE_SRC" "$BASELINE" >/dev/null
        fi
        log "building the baseline $BASELINE (release)"
        CARGO_TARGET_DIR=$BASE_TARGET cargo build --release --locked --quiet \
            --manifest-path "$BASE_SRC/Cargo.toml"
    fi
    if ((DISTINCT_TOKENS > 0)); then
        cargo build --locked --quiet --example bench_tokens
    fi
fi
CURRENT_BIN=$ROOT/target/release/lynk
BASE_BIN=${BASELINE_BIN:-$BASE_TARGET/release/lynk}
[[ -z ${BASELINE_BIN:-} ]] || BASELINE=$(basename "$BASELINE_BIN")
[[ -x $CURRENT_BIN && -x $BASE_BIN ]] || die "missing builds; run without SKIP_BUILD"
BENCH_TOKENS=""
for candidate in "$ROOT/target/release/examples/bench_tokens" "$ROOT/target/debug/examples/bench_tokens"; do
    [[ -z $BENCH_TOKENS && -x $candidate ]] && BENCH_TOKENS=$candidate
done

PIDS=()
DATABASES=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for name in "${DATABASES[@]}"; do
        "$PSQL" -q "$LYNK_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $name" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

gql() { # port token query
    curl -sf "http://127.0.0.1:$1/lynkapi" -H "Authorization: Bearer $2" \
        -H 'Content-Type: application/json' -d "$(jq -nc --arg q "$3" '{query: $q}')"
}

# DISTINCT_TOKENS tokens whose secrets are known: the secrets in
# $WORK/distinct.tokens (what the client sends), the SQL storing their
# digests as tokens of the bootstrapped organization in
# $WORK/distinct.$DATABASE.sql. Made once per run.
distinct_tokens() {
    [[ -s $WORK/distinct.$DATABASE.sql ]] && return 0
    [[ -x $BENCH_TOKENS ]] || die "examples/bench_tokens is not built; run without SKIP_BUILD"
    "$BENCH_TOKENS" "$DISTINCT_TOKENS" >"$WORK/distinct.txt"
    cut -d' ' -f1 "$WORK/distinct.txt" >"$WORK/distinct.tokens"
    local literal="X'%s'" id="randomblob(16)" now="strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now')"
    local later="strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now', '+365 days')"
    if [[ $DATABASE == postgres ]]; then
        literal="decode('%s', 'hex')" id="gen_random_uuid()" now="now()" later="now() + interval '365 days'"
    fi
    {
        printf 'INSERT INTO token (id, kind, organization_id, name, digest, hint, owner_user_id,\n'
        printf '                   created_by_user_id, created_at, expires_at)\n'
        printf "SELECT $id, 'personal', (SELECT id FROM organization LIMIT 1), 'distinct',\n"
        printf "       d.column1, 'lynk_live_0000…0000', (SELECT id FROM users LIMIT 1),\n"
        printf "       (SELECT id FROM users LIMIT 1), $now, $later\n"
        printf 'FROM (VALUES\n'
        awk -v literal="$literal" '{ printf "%s(" literal ")", (NR > 1 ? ",\n" : ""), $2 } END { print "" }' \
            "$WORK/distinct.txt"
        printf ') AS d;\n'
    } >"$WORK/distinct.$DATABASE.sql"
}

# A fresh database for one server, in DIR on SQLite; prints its URL.
new_database() {
    if [[ $DATABASE == postgres ]]; then
        local name
        name=lynk_instructions_$(basename "$1" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')
        "$PSQL" -q "$LYNK_TEST_DATABASE_URL" -c "CREATE DATABASE $name" >/dev/null
        DATABASES+=("$name")
        echo "${LYNK_TEST_DATABASE_URL%/*}/$name"
    else
        echo "sqlite://$1/lynk.db?mode=rwc"
    fi
}

# measure BINARY RUST_LOG QUERY REQUESTS SEED_TOKENS NAME [DISTINCT] → instructions per request
# DISTINCT=reuse or first-use: the distinct-tokens table's rows.
measure() {
    local bin=$1 filter=$2 query=$3 requests=$4 seed=$5 name=$6 distinct=${7:-}
    local dir port token pid out
    dir=$(mktemp -d "$WORK/run.XXXXXX")
    local db
    db=$(new_database "$dir")
    token=$(RUST_LOG=warn "$bin" bootstrap --org Bench --email bench@lynk.test --json \
        --database-url "$db" </dev/null | jq -r .token)
    local send=$token
    if [[ $distinct == first-use ]]; then
        distinct_tokens
        if [[ $DATABASE == postgres ]]; then
            "$PSQL" -q -v ON_ERROR_STOP=1 "$db" -f "$WORK/distinct.postgres.sql" >/dev/null
        else
            sqlite3 "$dir/lynk.db" <"$WORK/distinct.sqlite.sql"
        fi
        send=@$WORK/distinct.tokens
    fi
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
    python3 "$ROOT/bench/instructions_client.py" "$port" "$send" "$query" "$requests" "$CONNECTIONS"
    # The distinct-tokens rows include the writes behind the requests.
    [[ -z $distinct ]] || sleep "$FLUSH_WAIT"
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

((DISTINCT_TOKENS > 0)) || exit 0
REUSE_LABEL="1 token reused"
FIRST_LABEL="$DISTINCT_TOKENS distinct tokens, first use"
[[ $REUSE_LABEL =~ $ONLY || $FIRST_LABEL =~ $ONLY ]] || exit 0
printf '\n%-36s %14s\n' "this build, $DATABASE, warn" "per request"
reuse=$(measure "$CURRENT_BIN" warn "$ORG" "$DISTINCT_TOKENS" 0 reuse reuse)
printf '%-36s %14s\n' "$REUSE_LABEL" "$reuse"
first=$(measure "$CURRENT_BIN" warn "$ORG" "$DISTINCT_TOKENS" 0 first-use first-use)
printf '%-36s %14s %8s\n' "$FIRST_LABEL" "$first" \
    "$(awk -v a="$first" -v b="$reuse" 'BEGIN { printf "%.3f", a / b }')"
