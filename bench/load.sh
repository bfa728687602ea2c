#!/usr/bin/env bash
# bench/load.sh — the HTTP load benchmark of issue 7, on loopback.
#
# Usage: bench/load.sh            (from anywhere; takes about 3 minutes after the build)
#
# Why this exists: authentication sits in front of every request, so its
# cost is measured beside a ceiling (examples/ceiling.rs: a bare axum
# handler returning the very bytes lynk answers), with the same load tool,
# the same connections and in the same run; the ratios are what we report
# in BENCHMARKS.md.
#
# What it does: installs wrk and sqlite3 from Debian's packages if missing,
# builds release, bootstraps an organization with `lynk bootstrap`, seeds
# SEED_TOKENS more tokens (random digests) on SQLite and on PostgreSQL (a
# throwaway cluster from scripts/with-postgres.sh), starts the ceiling and
# lynk, and runs wrk with bench/auth.lua at 1, 16 and 64 connections for:
#   ceiling                     the bare handler
#   ceiling + N µs of work      the same handler, spinning N µs per request
#                               first: how much work a share of the ceiling
#                               leaves room for on this machine
#   typename (sqlite)           `{ __typename }`, authenticated
#   organization (sqlite)       `{ organization { id name } }`, authenticated
#   organization (sqlite, unix-excl)  the same, the file held by the server alone
#   organization (postgres)     the same on PostgreSQL
#   invalid token → 401 (sqlite) a well-formed token that is not stored
#   organization, 1 token / N distinct tokens, first use / N distinct
#   tokens, used in the minute (sqlite, postgres)
#                               the same query with wrk sending tokens from a
#                               list, the three in turn per connection count:
#                               the bootstrap token alone; DISTINCT_TOKENS
#                               tokens each first used in the row (their
#                               lastUsedAt is cleared before it), so that
#                               every one of them is written; the same
#                               tokens again, written less than a minute ago
#                               (the difference is the cost of writing them)
# It prints one table: requests per second, p50, p99, server CPU seconds per
# 10k requests (utime+stime of the server process from /proc), its peak RSS
# during the row (VmHWM, reset before each row) and the ratio to the ceiling
# at the same connection count. Everything listens on 127.0.0.1 only, every
# row is bounded (DURATION seconds), and the processes it started are
# stopped on exit, Ctrl-C included.
#
# Settings (environment): DURATION (seconds per row, default 5), WARMUP
# (seconds per server, default 2), CONNECTIONS (default "1 16 64"),
# SEED_TOKENS (default 100000), CEILING_WORK (microseconds of work per
# request for the extra ceiling rows, default "10"; "" for none),
# DISTINCT_TOKENS (default 10000), ONLY (an extended regular expression:
# run only the rows whose label matches, default all), SKIP_BUILD=1 (use
# the existing release build), BASELINE (another lynk binary: adds A/B
# rows of `organization` against it, in turn with this build, ROUNDS times,
# default 2), LYNK_BENCH_NO_POSTGRES=1 (skip the
# PostgreSQL rows), RUST_LOG (the servers' log filter, default info as in
# production).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

log() { printf 'load: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# PostgreSQL: rerun this script under scripts/with-postgres.sh, which
# exports LYNK_TEST_DATABASE_URL (a superuser URL) and removes the cluster
# afterwards.
if [[ -z "${LYNK_TEST_DATABASE_URL:-}" && -z "${LYNK_BENCH_NO_POSTGRES:-}" ]]; then
    exec "$ROOT/scripts/with-postgres.sh" "$ROOT/bench/load.sh" "$@"
fi

DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-"1 16 64"}
SEED_TOKENS=${SEED_TOKENS:-100000}
CEILING_WORK=${CEILING_WORK-10}
DISTINCT_TOKENS=${DISTINCT_TOKENS:-10000}
ONLY=${ONLY:-.}
BASELINE=${BASELINE:-}
ROUNDS=${ROUNDS:-2}
[[ -z "$BASELINE" || -x "$BASELINE" ]] || die "BASELINE=$BASELINE is not an executable"
export RUST_LOG=${RUST_LOG:-info}
# Failed authentications per address are rate limited where lynk supports
# it; the 401 row measures the 401 itself, so lift the budget (an unknown
# variable is ignored by older builds).
export LYNK_AUTH_FAILURES_PER_IP=${LYNK_AUTH_FAILURES_PER_IP:-1000000000}

# ---------------------------------------------------------------------------
# Tools.
# ---------------------------------------------------------------------------
need_packages=()
command -v wrk >/dev/null 2>&1 || need_packages+=(wrk)
command -v sqlite3 >/dev/null 2>&1 || need_packages+=(sqlite3)
command -v curl >/dev/null 2>&1 || need_packages+=(curl)
if ((${#need_packages[@]})); then
    [[ $EUID -eq 0 ]] || die "missing ${need_packages[*]}; install them (apt-get install ${need_packages[*]})"
    log "installing ${need_packages[*]} with apt-get"
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_packages[@]}"
    } </dev/null >&2
fi
PSQL=""
if [[ -n "${LYNK_TEST_DATABASE_URL:-}" ]]; then
    PSQL="$(command -v psql 2>/dev/null || true)"
    if [[ -z "$PSQL" ]]; then
        for candidate in /usr/lib/postgresql/*/bin/psql; do
            [[ -x "$candidate" ]] && PSQL=$candidate
        done
    fi
    [[ -x "$PSQL" ]] || die "psql not found (it comes with PostgreSQL)"
fi

if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building release (lynk, examples/ceiling.rs and examples/bench_tokens.rs)"
    cargo build --release --locked --bin lynk --example ceiling --example bench_tokens >&2
fi
LYNK="$ROOT/target/release/lynk"
CEILING="$ROOT/target/release/examples/ceiling"
BENCH_TOKENS="$ROOT/target/release/examples/bench_tokens"
[[ -x "$LYNK" && -x "$CEILING" && -x "$BENCH_TOKENS" ]] || die "release binaries missing; run without SKIP_BUILD"

# ---------------------------------------------------------------------------
# Cleanup: stop what we started (by pid), drop the PostgreSQL database.
# ---------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lynk-load.XXXXXX")"
PIDS=()
PG_DB=""
# shellcheck disable=SC2317 # invoked from a trap
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$PG_DB" ]]; then
        "$PSQL" -q "$LYNK_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
    fi
    rm -rf -- "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() {
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}
free_port() {
    local port=$1
    while port_in_use "$port"; do port=$((port + 1)); done
    printf '%s\n' "$port"
}

# Starts a server in the background; sets STARTED_PID.
start_server() {
    local name=$1
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

wait_ready() {
    local url=$1 pid=$2 name=$3
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$WORK/$name.err" >&2; die "$name exited"; }
        if curl -s -o /dev/null "$url"; then return 0; fi
        sleep 0.1
    done
    die "$name did not start"
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# Bootstraps the organization into $1 and prints the token.
bootstrap() {
    local json
    json="$("$LYNK" bootstrap --org "Acme Corp" --email admin@acme.test --json --database-url "$1" 2>"$WORK/bootstrap.err")" ||
        { cat "$WORK/bootstrap.err" >&2; die "lynk bootstrap failed"; }
    sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$json"
}

# SEED_TOKENS more tokens of the organization: random digests (their
# plaintexts exist nowhere), generated inside the database in one statement.
seed_sqlite() {
    sqlite3 "$1" <<SQL
PRAGMA cache_size = -262144;
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $SEED_TOKENS)
INSERT INTO token (id, kind, organization_id, name, digest, hint, owner_user_id,
                   created_by_user_id, created_at, expires_at)
SELECT randomblob(16), 'personal', (SELECT id FROM organization LIMIT 1), 'load filler',
       randomblob(32), 'lynk_live_0000…0000', (SELECT id FROM users LIMIT 1),
       (SELECT id FROM users LIMIT 1), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+365 days')
FROM seq;
ANALYZE;
SQL
}

seed_postgres() {
    "$PSQL" -q -v ON_ERROR_STOP=1 "$1" <<SQL
INSERT INTO token (id, kind, organization_id, name, digest, hint, owner_user_id,
                   created_by_user_id, created_at, expires_at)
SELECT gen_random_uuid(), 'personal', (SELECT id FROM organization LIMIT 1), 'load filler',
       sha256(convert_to(i::text || ':' || random()::text, 'UTF8')), 'lynk_live_0000…0000',
       (SELECT id FROM users LIMIT 1), (SELECT id FROM users LIMIT 1), now(),
       now() + interval '365 days'
FROM generate_series(1, $SEED_TOKENS) AS i;
ANALYZE;
SQL
}

# DISTINCT_TOKENS tokens whose secrets are known (examples/bench_tokens.rs):
# the secrets go to $WORK/distinct.tokens for wrk; the digests, stored as
# tokens of the organization named "load distinct", to the SQL file $1
# (with the literal syntax of the database: sqlite or postgres, in $2).
distinct_tokens_sql() {
    local literal="X'%s'"
    [[ "$2" == postgres ]] && literal="decode('%s', 'hex')"
    "$BENCH_TOKENS" "$DISTINCT_TOKENS" >"$WORK/distinct.txt"
    cut -d' ' -f1 "$WORK/distinct.txt" >"$WORK/distinct.tokens"
    awk -v literal="$literal" '{ printf "%s(" literal ")", (NR > 1 ? ",\n" : ""), $2 } END { print "" }' \
        "$WORK/distinct.txt" >"$WORK/distinct.values"
    {
        printf 'INSERT INTO token (id, kind, organization_id, name, digest, hint, owner_user_id,\n'
        printf '                   created_by_user_id, created_at, expires_at)\n'
        if [[ "$2" == postgres ]]; then
            printf "SELECT gen_random_uuid(), 'personal', (SELECT id FROM organization LIMIT 1), 'load distinct',\n"
            printf "       d.column1, 'lynk_live_0000…0000', (SELECT id FROM users LIMIT 1),\n"
            printf "       (SELECT id FROM users LIMIT 1), now(), now() + interval '365 days'\n"
        else
            printf "SELECT randomblob(16), 'personal', (SELECT id FROM organization LIMIT 1), 'load distinct',\n"
            printf "       d.column1, 'lynk_live_0000…0000', (SELECT id FROM users LIMIT 1),\n"
            printf "       (SELECT id FROM users LIMIT 1), strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'),\n"
            printf "       strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now', '+365 days')\n"
        fi
        printf 'FROM (VALUES\n'
        cat "$WORK/distinct.values"
        printf ') AS d;\n'
    } >"$1"
}

# ---------------------------------------------------------------------------
# Measuring one row.
# ---------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# run_row LABEL PID PORT TOKEN QUERY EXPECT_STATUS CONNECTIONS [TOKENS_FILE]
run_row() {
    local label=$1 pid=$2 port=$3 token=$4 query=$5 expect=$6 conns=$7 tokens_file=${8:-}
    local threads=2
    ((conns >= 2)) || threads=1
    # Reset the peak RSS to the current RSS, so VmHWM is this row's peak.
    echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true
    local before after
    before=$(cpu_ticks "$pid")
    LYNK_TOKEN="$token" QUERY="$query" EXPECT_STATUS="$expect" RESULT_FILE="$WORK/row" \
        TOKENS_FILE="$tokens_file" WRK_THREADS="$threads" \
        wrk -t "$threads" -c "$conns" -d "${DURATION}s" --timeout 5s \
        -s "$ROOT/bench/auth.lua" "http://127.0.0.1:$port/lynkapi" >"$WORK/wrk.out" 2>&1 ||
        { cat "$WORK/wrk.out" >&2; die "wrk failed for $label"; }
    after=$(cpu_ticks "$pid")
    local requests rps p50 p99 failures
    read -r requests rps p50 p99 failures <"$WORK/row"
    if ((failures > 0)); then
        log "$label c=$conns: $failures failures; $(grep -m1 'first failure' "$WORK/wrk.out" || true)"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$conns" "$requests" "$rps" \
        "$p50" "$p99" "$((after - before))" "$(peak_rss_kib "$pid")" "$failures" >>"$RESULTS"
    log "$(printf '%-30s c=%-3s %9.0f rps  p50 %6.2f ms  p99 %6.2f ms  failures %s' \
        "$label" "$conns" "$rps" "$(bc_div "$p50" 1000)" "$(bc_div "$p99" 1000)" "$failures")"
}

bc_div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

warm_up() {
    LYNK_TOKEN="$2" QUERY="$3" EXPECT_STATUS="$4" \
        wrk -t 2 -c 16 -d "${WARMUP}s" -s "$ROOT/bench/auth.lua" "http://127.0.0.1:$1/lynkapi" >/dev/null 2>&1 || true
}

rows_for() {
    local label=$1 pid=$2 port=$3 token=$4 query=$5 expect=$6 conns
    [[ "$label" =~ $ONLY ]] || return 0
    warm_up "$port" "$token" "$query" "$expect"
    for conns in $CONNECTIONS; do
        run_row "$label" "$pid" "$port" "$token" "$query" "$expect" "$conns"
    done
}

# The one-token and the distinct-tokens rows, in turn per connection
# count; before the first distinct row, CLEAR (a command) makes every one
# of those tokens due for its lastUsedAt write again.
# distinct_rows_for DATABASE PID PORT CLEAR...
distinct_rows_for() {
    local database=$1 pid=$2 port=$3 conns
    shift 3
    local one="organization, 1 token ($database)"
    local many="organization, $DISTINCT_TOKENS distinct tokens, first use ($database)"
    local again="organization, $DISTINCT_TOKENS distinct tokens, used in the minute ($database)"
    [[ "$one" =~ $ONLY || "$many" =~ $ONLY || "$again" =~ $ONLY ]] || return 0
    printf '%s\n' "$TOKEN_FOR_ROWS" >"$WORK/one.tokens"
    warm_up "$port" "$TOKEN_FOR_ROWS" "$ORG_QUERY" 200
    # Read every distinct token once, so the rows start with a warm cache.
    TOKENS_FILE="$WORK/distinct.tokens" WRK_THREADS=1 \
        wrk -t 1 -c 1 -d "${WARMUP}s" -s "$ROOT/bench/auth.lua" "http://127.0.0.1:$port/lynkapi" >/dev/null 2>&1 || true
    for conns in $CONNECTIONS; do
        run_row "$one" "$pid" "$port" "" "$ORG_QUERY" 200 "$conns" "$WORK/one.tokens"
        "$@"
        run_row "$many" "$pid" "$port" "" "$ORG_QUERY" 200 "$conns" "$WORK/distinct.tokens"
        run_row "$again" "$pid" "$port" "" "$ORG_QUERY" 200 "$conns" "$WORK/distinct.tokens"
    done
}

# A/B against BASELINE (another lynk binary, e.g. the release build of the
# commit before a change): both servers on the same database, rows in turn
# per connection count, ROUNDS times, so that a neighbour waking up moves
# both builds alike.
# ab_rows_for DATABASE PID PORT TOKEN DATABASE_URL
ab_rows_for() {
    local database=$1 pid=$2 port=$3 token=$4 url=$5 conns round
    local this="organization, A/B this build ($database)"
    local base="organization, A/B baseline ($database)"
    [[ -n "$BASELINE" ]] || return 0
    [[ "$this" =~ $ONLY || "$base" =~ $ONLY ]] || return 0
    local base_port
    base_port=$(free_port $((port + 2)))
    start_server "baseline-$database" "$BASELINE" serve --listen "127.0.0.1:$base_port" --database-url "$url"
    local base_pid=$STARTED_PID
    wait_ready "http://127.0.0.1:$base_port/healthz" "$base_pid" "baseline-$database"
    warm_up "$port" "$token" "$ORG_QUERY" 200
    warm_up "$base_port" "$token" "$ORG_QUERY" 200
    for ((round = 1; round <= ROUNDS; round++)); do
        for conns in $CONNECTIONS; do
            run_row "$this" "$pid" "$port" "$token" "$ORG_QUERY" 200 "$conns"
            run_row "$base" "$base_pid" "$base_port" "$token" "$ORG_QUERY" 200 "$conns"
        done
    done
    stop_server "$base_pid"
}

ORG_QUERY='{ organization { id name } }'
TYPENAME_QUERY='{ __typename }'

# ---------------------------------------------------------------------------
# SQLite: lynk, the ceiling, the 401 path.
# ---------------------------------------------------------------------------
SQLITE_URL="sqlite://$WORK/lynk.db?mode=rwc"
log "bootstrapping and seeding $SEED_TOKENS tokens on SQLite"
TOKEN="$(bootstrap "$SQLITE_URL")"
[[ -n "$TOKEN" ]] || die "no token from lynk bootstrap"
seed_sqlite "$WORK/lynk.db"
distinct_tokens_sql "$WORK/distinct-sqlite.sql" sqlite
sqlite3 "$WORK/lynk.db" <"$WORK/distinct-sqlite.sql"
# A well-formed token (right prefix, length and checksum) that is not stored:
# bootstrapped into a database the server never sees.
UNKNOWN_TOKEN="$(bootstrap "sqlite://$WORK/other.db?mode=rwc")"

LYNK_PORT=$(free_port 18080)
start_server lynk-sqlite "$LYNK" serve --listen "127.0.0.1:$LYNK_PORT" --database-url "$SQLITE_URL"
LYNK_PID=$STARTED_PID
wait_ready "http://127.0.0.1:$LYNK_PORT/healthz" "$LYNK_PID" lynk-sqlite

ANSWER="$(curl -s -X POST "http://127.0.0.1:$LYNK_PORT/lynkapi" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "{\"query\":\"$ORG_QUERY\"}")"
[[ "$ANSWER" == '{"data":{"organization":{"id":"'*'","name":"Acme Corp"}}}' ]] ||
    die "unexpected answer from lynk: $ANSWER"

CEILING_PORT=$(free_port $((LYNK_PORT + 1)))
start_server ceiling "$CEILING" "127.0.0.1:$CEILING_PORT" "$ANSWER"
CEILING_PID=$STARTED_PID
wait_ready "http://127.0.0.1:$CEILING_PORT/lynkapi" "$CEILING_PID" ceiling
[[ "$(curl -s -X POST "http://127.0.0.1:$CEILING_PORT/lynkapi" -d '{}')" == "$ANSWER" ]] ||
    die "the ceiling does not answer lynk's bytes"

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
log "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), load average $LOAD_BEFORE"
log "rows of ${DURATION}s each, connections: $CONNECTIONS"
rows_for "ceiling" "$CEILING_PID" "$CEILING_PORT" "" "$ORG_QUERY" 200
stop_server "$CEILING_PID"
for micros in $CEILING_WORK; do
    start_server "ceiling-$micros" "$CEILING" "127.0.0.1:$CEILING_PORT" "$ANSWER" "$micros"
    wait_ready "http://127.0.0.1:$CEILING_PORT/lynkapi" "$STARTED_PID" "ceiling-$micros"
    rows_for "ceiling + $micros µs of work" "$STARTED_PID" "$CEILING_PORT" "" "$ORG_QUERY" 200
    stop_server "$STARTED_PID"
done
rows_for "typename (sqlite)" "$LYNK_PID" "$LYNK_PORT" "$TOKEN" "$TYPENAME_QUERY" 200
rows_for "organization (sqlite)" "$LYNK_PID" "$LYNK_PORT" "$TOKEN" "$ORG_QUERY" 200
rows_for "invalid token 401 (sqlite)" "$LYNK_PID" "$LYNK_PORT" "$UNKNOWN_TOKEN" "$ORG_QUERY" 401
ab_rows_for sqlite "$LYNK_PID" "$LYNK_PORT" "$TOKEN" "$SQLITE_URL"
TOKEN_FOR_ROWS=$TOKEN
distinct_rows_for sqlite "$LYNK_PID" "$LYNK_PORT" \
    sqlite3 -cmd '.timeout 5000' "$WORK/lynk.db" "UPDATE token SET last_used_at = NULL, last_used_ips = NULL WHERE name = 'load distinct'"
stop_server "$LYNK_PID"

# The same file, kept to the server alone (README, Deploying: `vfs=unix-excl`).
start_server lynk-sqlite-excl "$LYNK" serve --listen "127.0.0.1:$LYNK_PORT" --database-url "$SQLITE_URL&vfs=unix-excl"
LYNK_PID=$STARTED_PID
wait_ready "http://127.0.0.1:$LYNK_PORT/healthz" "$LYNK_PID" lynk-sqlite-excl
rows_for "organization (sqlite, unix-excl)" "$LYNK_PID" "$LYNK_PORT" "$TOKEN" "$ORG_QUERY" 200
stop_server "$LYNK_PID"

# ---------------------------------------------------------------------------
# PostgreSQL.
# ---------------------------------------------------------------------------
if [[ -n "${LYNK_TEST_DATABASE_URL:-}" ]]; then
    PG_DB="lynk_load_$$"
    "$PSQL" -q -v ON_ERROR_STOP=1 "$LYNK_TEST_DATABASE_URL" -c "CREATE DATABASE $PG_DB" >/dev/null
    PG_URL="${LYNK_TEST_DATABASE_URL%/*}/$PG_DB"
    log "bootstrapping and seeding $SEED_TOKENS tokens on PostgreSQL"
    PG_TOKEN="$(bootstrap "$PG_URL")"
    seed_postgres "$PG_URL"
    distinct_tokens_sql "$WORK/distinct-postgres.sql" postgres
    "$PSQL" -q -v ON_ERROR_STOP=1 "$PG_URL" -f "$WORK/distinct-postgres.sql"
    start_server lynk-postgres "$LYNK" serve --listen "127.0.0.1:$LYNK_PORT" --database-url "$PG_URL"
    LYNK_PID=$STARTED_PID
    wait_ready "http://127.0.0.1:$LYNK_PORT/healthz" "$LYNK_PID" lynk-postgres
    rows_for "organization (postgres)" "$LYNK_PID" "$LYNK_PORT" "$PG_TOKEN" "$ORG_QUERY" 200
    ab_rows_for postgres "$LYNK_PID" "$LYNK_PORT" "$PG_TOKEN" "$PG_URL"
    TOKEN_FOR_ROWS=$PG_TOKEN
    distinct_rows_for postgres "$LYNK_PID" "$LYNK_PORT" \
        "$PSQL" -q "$PG_URL" -c "UPDATE token SET last_used_at = NULL, last_used_ips = NULL WHERE name = 'load distinct'"
    stop_server "$LYNK_PID"
fi

# ---------------------------------------------------------------------------
# The table (Markdown, so BENCHMARKS.md can take it as is).
# ---------------------------------------------------------------------------
printf '\nlynk load benchmark, %s; %s CPUs (%s); load average before: %s; %ss per row, wrk over loopback, %s stored tokens\n\n' \
    "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" \
    "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
    "$LOAD_BEFORE" "$DURATION" "$((SEED_TOKENS + 1))"
awk -F'\t' -v tck="$CLK_TCK" '
    { label[NR] = $1; conns[NR] = $2; reqs[NR] = $3; rps[NR] = $4; p50[NR] = $5; p99[NR] = $6
      ticks[NR] = $7; rss[NR] = $8; fail[NR] = $9
      if ($1 == "ceiling") ceiling[$2] = $4 }
    END {
      print "| target | conns | req/s | p50 ms | p99 ms | CPU s / 10k req | peak RSS MiB | failures | vs ceiling |"
      print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
      for (i = 1; i <= NR; i++) {
        cpu = reqs[i] > 0 ? ticks[i] / tck / reqs[i] * 10000 : 0
        ratio = ceiling[conns[i]] > 0 ? sprintf("%.0f%%", 100 * rps[i] / ceiling[conns[i]]) : "n/a"
        printf "| %s | %d | %.0f | %.2f | %.2f | %.2f | %.1f | %d | %s |\n", label[i], conns[i], rps[i],
          p50[i] / 1000, p99[i] / 1000, cpu, rss[i] / 1024, fail[i], ratio
      }
    }' "$RESULTS"
