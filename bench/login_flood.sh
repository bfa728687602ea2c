#!/usr/bin/env bash
# bench/login_flood.sh: authenticated latency while a login flood runs.
#
# Why: argon2 is deliberately expensive, so a flood of logins could starve
# token traffic. lynk bounds hashing to half the cores; this measures that
# the authenticated p50/p99 stay within 2x of the same run without the
# flood. Loopback only, bounded in time, cleans up after itself. Not part
# of CI (timings on shared machines are noisy; we report ratios).
#
# Usage: bench/login_flood.sh [seconds per phase, default 10]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=${1:-10}
if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
fi
bin=${LYNK_BIN:-target/release/lynk}
if [ -z "${LYNK_BIN:-}" ]; then
    cargo build --release --quiet
fi

work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
# The flood must reach argon2, so the login limits are lifted for this run.
LYNK_BOOTSTRAP_PASSWORD='login flood benchmark password' RUST_LOG=warn \
    "$bin" serve --listen "127.0.0.1:$port" --database-url "sqlite://$work/lynk.db?mode=rwc" \
    --login-failures-per-account 1000000000 --login-failures-per-ip 1000000000 \
    >"$work/stdout" 2>"$work/stderr" &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
    grep -q 'lynk_live_' "$work/stdout" 2>/dev/null && break
    sleep 0.1
done
LYNK_TOKEN=$(grep -o 'lynk_live_[0-9A-Za-z]*' "$work/stdout" | head -n 1)
export LYNK_TOKEN
[ -n "$LYNK_TOKEN" ] || { echo "lynk did not start" >&2; cat "$work/stderr" >&2; exit 1; }

cat >"$work/auth.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("LYNK_TOKEN")
wrk.body = '{"query":"query { organization { id name } }"}'
failures = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"') then failures = failures + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("FAILURES %d\n", failures))
end
LUA
cat >"$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"mutation { login(email: \\"admin@example.com\\", password: \\"not the password\\") { token } }"}'
LUA

url="http://127.0.0.1:$port/lynkapi"
# p50 and p99 in milliseconds from `wrk --latency` output.
percentiles() {
    awk '/^ +(50|99)%/ {
        v = $2; unit = v; gsub(/[0-9.]/, "", unit); sub(/[a-z]+$/, "", v)
        ms = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v
        printf "%s ", ms
    } /^Requests\/sec/ { printf "%s ", $2 } /^FAILURES/ { printf "%s", $2 }' "$1"
}

wrk -t1 -c16 -d1s -s "$work/auth.lua" "$url" >/dev/null # warm up
wrk -t1 -c16 -d"${duration}s" --latency -s "$work/auth.lua" "$url" >"$work/baseline"
wrk -t1 -c64 -d"$((duration + 4))s" -s "$work/login.lua" "$url" >"$work/flood" &
flood=$!
sleep 2
wrk -t1 -c16 -d"${duration}s" --latency -s "$work/auth.lua" "$url" >"$work/during"
wait "$flood"

read -r b50 b99 brps bfail <<<"$(percentiles "$work/baseline")"
read -r d50 d99 drps dfail <<<"$(percentiles "$work/during")"
logins=$(awk '/^Requests\/sec/ {print $2}' "$work/flood")
printf '\n%-34s %10s %10s %10s %9s\n' "authenticated organization{id name}" "rps" "p50 ms" "p99 ms" "failures"
printf '%-34s %10s %10s %10s %9s\n' "alone" "$brps" "$b50" "$b99" "$bfail"
printf '%-34s %10s %10s %10s %9s\n' "during a login flood" "$drps" "$d50" "$d99" "$dfail"
awk -v b50="$b50" -v b99="$b99" -v d50="$d50" -v d99="$d99" -v l="$logins" 'BEGIN {
    printf "\nlogin flood: %s wrong-password logins/s on 64 connections\n", l
    printf "ratio during/alone: p50 %.2fx, p99 %.2fx (target: within 2x)\n", d50 / b50, d99 / b99
}'
