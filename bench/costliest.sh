#!/usr/bin/env bash
# costliest.sh — the costliest requests lynk still accepts (docs/DESIGN.md §4.3),
# each sent alone to a freshly started server: the server's CPU time
# (summed over its threads' schedstat, nanoseconds) and its peak RSS
# (VmHWM) before and after, and the request's wall time.
#
# Usage: bench/costliest.sh            (builds release unless SKIP_BUILD=1)
# Settings: LYNK (binary), ROUNDS (per query, default 3), DOC_MIB (size of
# the SBOM read by the documents row, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

LYNK=${LYNK:-target/release/lynk}
ROUNDS=${ROUNDS:-3}
DOC_MIB=${DOC_MIB:-10}
[[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --release --bin lynk

work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
db="sqlite://$work/lynk.db?mode=rwc"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port/lynkapi"

"$LYNK" migrate --database-url "$db" >/dev/null
printf 'correct horse battery staple\n' >"$work/password"
"$LYNK" bootstrap --org Bench --email admin@bench.test --password-stdin --json \
    --database-url "$db" <"$work/password" >"$work/bootstrap.json"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/bootstrap.json")

start() {
    RUST_LOG=warn "$LYNK" serve --listen "127.0.0.1:$port" --database-url "$db" \
        --max-sbom-bytes $((DOC_MIB * 1024 * 1024 + 4096)) >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return
        sleep 0.1
    done
    echo "lynk did not start" >&2
    exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

# gql QUERY_FILE: posts {"query": …} from a file, with the admin token.
gql() {
    curl -sS "$url" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        --data-binary @"$1"
}
json_query() { python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1"; }

echo "seeding 100 projects, each with one small SBOM, and one ${DOC_MIB} MiB SBOM" >&2
start
small='{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"serde"}]}'
for n in $(seq 100); do
    json_query "mutation { createProject(input: {name: \"p$n\"}) { id } }" >"$work/q"
    project=$(gql "$work/q" | python3 -c 'import json,sys; a=sys.stdin.read(); print(json.loads(a)["data"]["createProject"]["id"]) if "createProject\"" in a and json.loads(a)["data"] else sys.exit("createProject: " + a)')
    python3 -c 'import json,sys; print(json.dumps({"query": "mutation($i: UploadSbomInput!) { uploadSbom(input: $i) { id } }", "variables": {"i": {"projectId": sys.argv[1], "document": sys.argv[2].replace("serde", "serde" + sys.argv[3])}}}))' \
        "$project" "$small" "$n" >"$work/q"
    gql "$work/q" >/dev/null
done
python3 - "$project" "$DOC_MIB" >"$work/q" <<'EOF'
import json, sys
project, mib = sys.argv[1], int(sys.argv[2])
components = []
size = 0
while size < mib * 1024 * 1024 - 200:
    name = f"component-{len(components):08d}-" + "x" * 40
    components.append({"name": name})
    size += len(name) + 12
document = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components})
while len(document) > mib * 1024 * 1024:
    del components[-((len(document) - mib * 1024 * 1024) // 60 + 1):]
    document = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components})
print(json.dumps({"query": "mutation($i: UploadSbomInput!) { uploadSbom(input: $i) { id } }",
                  "variables": {"i": {"projectId": project, "document": document}}}))
EOF
big=$(gql "$work/q" | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a["data"]["uploadSbom"]["id"]) if a.get("data") else sys.exit("uploadSbom: " + json.dumps(a)[:500])')
stop

aliases() { # aliases N TEMPLATE: TEMPLATE with %d replaced by 0..N-1
    for i in $(seq 0 $(($1 - 1))); do printf '%s ' "${2//%d/$i}"; done
}
declare -A queries
queries[n_plus_1]="{ organization { projects(first: 100) { nodes { $(aliases 4 'a%d: sboms(first: 1) { __typename }') } } } }"
queries[rows]="{ organization { $(aliases 23 'a%d: auditEvents(first: 100) { nodes { id } }') } }"
queries[fields]="{ organization { projects(first: 100) { nodes { id name description createdAt sboms(first: 4) { nodes { id name format specVersion sha256 createdAt } } } } } }"
queries[documents]="{ $(aliases 4 "d%d: sbom(id: \"$big\") { document }") }"
password=$(cat "$work/password")
queries[login]="mutation { login(email: \"admin@bench.test\", password: \"$password\") { token } }"

cpu_ns() { cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'; }
hwm_kib() { awk '/VmHWM/ { print $2 }' /proc/"$pid"/status; }
# Anonymous memory (the heap), without the database file's mapped pages,
# which VmHWM counts once per connection that read them.
anon_kib() { awk '/RssAnon/ { print $2 }' /proc/"$pid"/status; }

printf '| request | wall ms | server CPU ms | peak RSS MiB (before → after) | anonymous RSS MiB after | response bytes |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
for name in n_plus_1 rows fields documents login; do
    printf '%s' "${queries[$name]}" | python3 -c 'import json,sys; print(json.dumps({"query": sys.stdin.read()}))' >"$work/q"
    for _ in $(seq "$ROUNDS"); do
        start
        json_query '{ organization { id } }' >"$work/warm"
        gql "$work/warm" >/dev/null
        before_cpu=$(cpu_ns)
        before_hwm=$(hwm_kib)
        read -r wall bytes < <(curl -sS "$url" -H "Authorization: Bearer $token" \
            -H 'Content-Type: application/json' --data-binary @"$work/q" -o "$work/answer" \
            -w '%{time_total} %{size_download}\n')
        after_cpu=$(cpu_ns)
        after_hwm=$(hwm_kib)
        after_anon=$(anon_kib)
        if grep -q '"errors"' "$work/answer"; then
            echo "$name answered with errors: $(head -c 300 "$work/answer")" >&2
            exit 1
        fi
        stop
        awk -v n="$name" -v w="$wall" -v c=$((after_cpu - before_cpu)) -v b="$before_hwm" \
            -v a="$after_hwm" -v m="$after_anon" -v s="$bytes" \
            'BEGIN { printf "| %s | %.1f | %.1f | %.1f → %.1f | %.1f | %d |\n", n, w * 1000, c / 1e6, b / 1024, a / 1024, m / 1024, s }'
    done
done
