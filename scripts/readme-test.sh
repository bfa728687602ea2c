#!/usr/bin/env bash
# scripts/readme-test.sh — run README.md's commands the way a newcomer does.
#
# Why this exists: the README promises that its quick start and walkthrough,
# and the CI recipes of docs/ci.md that continue it, run as pasted, in
# order, against a fresh `lynk serve`,
# without editing a command. Examples drift from the API without anyone
# noticing; this script holds the README to that promise. It starts a fresh
# server on a temporary SQLite database at 127.0.0.1:8080 (the address the
# README uses), pastes the `export LYNK_TOKEN=… LYNK_EMAIL=… LYNK_PASSWORD=…`
# line the first start prints, then runs every ```bash block that has
# `<!-- readme-test -->` on the line above it, in the order of DOCS (the
# README, then docs/ci.md, then docs/child-tokens.md) and of each file, in
# one bash process, so variables carry from block to block as they do in a
# terminal.
#
# A block fails the test when a command in it fails (the blocks run under
# `set -euo pipefail`), when a variable it assigns ends up empty or `null`
# (what `jq -r` prints for a missing field), or when its output or any answer
# curl received in it contains `"errors"`. A block marked
# `<!-- readme-test: errors -->` demonstrates an error instead: some output
# must contain `"errors"`.
#
# Usage: scripts/readme-test.sh   (LYNK_BIN overrides $CARGO_TARGET_DIR/debug/lynk, target/debug/lynk by default)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
# The files whose marked blocks run, in order: a later file continues in
# the shell an earlier one left.
DOCS=(README.md docs/ci.md docs/child-tokens.md)
ADDRESS=127.0.0.1:8080
BIN=${LYNK_BIN:-${CARGO_TARGET_DIR:-target}/debug/lynk}

die() { printf 'readme-test: %s\n' "$*" >&2; exit 1; }

[[ $BIN == /* ]] || BIN=$REPO/$BIN
[[ -x $BIN ]] || die "no lynk binary at $BIN (run cargo build, or set LYNK_BIN)"
for tool in curl jq; do
    command -v "$tool" >/dev/null || die "$tool is needed (the README's commands use it)"
done
if (exec 3<>"/dev/tcp/${ADDRESS%:*}/${ADDRESS#*:}") 2>/dev/null; then
    die "$ADDRESS is busy: stop whatever listens there (the README's commands need this address)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lynk-readme-test.XXXXXX")
SERVER_PID=
stop_server() {
    local status=$?
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if ((status != 0)) && [[ -s $WORK/server.stderr ]]; then
        printf '\nreadme-test: FAILED; the server log ends with:\n' >&2
        tail -n 20 "$WORK/server.stderr" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# The server runs in the scratch directory, as does every block (the local
# CI example writes bom.json to the current directory).
mkdir "$WORK/cwd"
(
    cd "$WORK/cwd"
    exec env -u LYNK_BOOTSTRAP_ORG -u LYNK_BOOTSTRAP_EMAIL -u LYNK_BOOTSTRAP_PASSWORD \
        "$BIN" serve --listen "$ADDRESS" --database-url "sqlite://$WORK/lynk.db?mode=rwc" \
        >"$WORK/server.stdout" 2>"$WORK/server.stderr"
) &
SERVER_PID=$!

for _ in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || die "lynk serve exited at startup (is $ADDRESS in use?)"
    curl -sf "http://$ADDRESS/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://$ADDRESS/readyz" >/dev/null || die "lynk serve is not ready after 30 s"

# The banner's line to paste, checked to be the plain assignments the README
# says it is before it is pasted into the shell that runs the blocks.
for _ in $(seq 50); do
    grep -q 'export LYNK_TOKEN=' "$WORK/server.stdout" && break
    sleep 0.1
done
grep -q 'Paste this line into your shell to use them:$' "$WORK/server.stdout" ||
    die "the first start's banner lacks 'Paste this line into your shell to use them:'"
EXPORT_LINE=$(sed -n 's/^[[:space:]]*\(export LYNK_TOKEN=.*\)$/\1/p' "$WORK/server.stdout")
[[ -n $EXPORT_LINE ]] || die "the first start's banner has no 'export LYNK_TOKEN=…' line"
email_word="[A-Za-z0-9._%+@-]+|'[^']*'"
[[ $EXPORT_LINE =~ ^export\ LYNK_TOKEN=lynk_live_[0-9A-Za-z]{36}\ LYNK_EMAIL=($email_word)\ LYNK_PASSWORD=[0-9A-Za-z]+$ ]] ||
    die "the banner's export line is not 'export LYNK_TOKEN=… LYNK_EMAIL=… LYNK_PASSWORD=…' with shell-safe values: $EXPORT_LINE"

# Extract the marked blocks: file and line of the fence, whether errors are
# expected, and the block's text. Blocks are numbered across the files.
: >"$WORK/blocks"
for doc in "${DOCS[@]}"; do
    [[ -f $REPO/$doc ]] || die "$doc is missing"
    awk -v dir="$WORK" -v doc="$doc" -v n="$(wc -l <"$WORK/blocks")" '
        function fail(msg) { printf "readme-test: %s:%d: %s\n", doc, NR, msg > "/dev/stderr"; bad = 1; exit 1 }
        state == "body" {
            if ($0 ~ /^```[[:space:]]*$/) { state = ""; next }
            print > (dir "/block." n ".sh"); next
        }
        state == "fence" {
            if ($0 !~ /^```bash[[:space:]]*$/) fail("a readme-test marker must be followed by a ```bash fence")
            n++; printf "%d %s:%d %s\n", n, doc, NR, mode >> (dir "/blocks"); state = "body"; next
        }
        /^<!-- readme-test(: errors)? -->[[:space:]]*$/ {
            mode = ($0 ~ /errors/) ? "errors" : "clean"; state = "fence"; next
        }
        /^<!-- *readme-test/ { fail("unknown readme-test marker: " $0) }
        END { if (!bad && state != "") fail("unterminated block at the end of the file") }
    ' "$REPO/$doc"
done
[[ -s $WORK/blocks ]] || die "no block is marked <!-- readme-test --> in ${DOCS[*]}"

# One script for one bash process: the export line as pasted, then each
# block with its output kept aside for the checks. curl is wrapped only to
# keep a copy of every answer, including those captured into variables.
RUNNER=$WORK/run.sh
{
    printf 'set -euo pipefail\n'
    printf 'cd %q\n' "$WORK/cwd"
    printf '__rt_dir=%q\n' "$WORK"
    cat <<'EOF'
curl() { command curl "$@" | tee -a "$__rt_responses"; }
__rt_fail() {
    : >"$__rt_dir/reported"
    printf '\nreadme-test: %s: %s\n' "$__rt_line" "$1" >&2
    exit 1
}
__rt_check() {  # expected ("clean" or "errors"), then the variables the block assigns
    local expected=$1 var; shift
    if [[ $expected == errors ]]; then
        grep -q '"errors"' "$__rt_output" "$__rt_responses" ||
            __rt_fail 'this block should show an "errors" answer, and none came'
    elif grep -q '"errors"' "$__rt_output" "$__rt_responses"; then
        printf 'answers received:\n' >&2; cat "$__rt_responses" >&2; echo >&2
        __rt_fail 'an answer contains "errors"'
    fi
    for var; do
        [[ -n ${!var-} && ${!var} != null ]] || __rt_fail "\$$var is empty or null after the block"
    done
}
__rt_begin() {  # the block's number, then where it is (file:line)
    __rt_line=$2
    __rt_output=$__rt_dir/output.$1
    __rt_responses=$__rt_dir/responses.$1
    : >"$__rt_output"; : >"$__rt_responses"
    printf '%s %s\n' "$1" "$2" >"$__rt_dir/current"
    printf '\n==> %s\n' "$__rt_line"
}
__rt_show() { cat "$__rt_output"; [[ ! -s $__rt_output || -z $(tail -c 1 "$__rt_output") ]] || echo; }
EOF
    printf '\n# Pasted from the banner:\n%s\n' "$EXPORT_LINE"
    while read -r n line mode; do
        vars=$(sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$WORK/block.$n.sh" | sort -u | tr '\n' ' ')
        printf '\n__rt_begin %d %q\n{\n' "$n" "$line"
        cat "$WORK/block.$n.sh"
        printf '\n} >"$__rt_output" 2>&1\n__rt_show\n__rt_check %s %s\n' "$mode" "$vars"
    done <"$WORK/blocks"
} >"$RUNNER"

run=(bash --noprofile --norc "$RUNNER")
command -v timeout >/dev/null && run=(timeout 300 "${run[@]}")
if ! "${run[@]}"; then
    read -r n line <"$WORK/current" 2>/dev/null || { n='?'; line='?'; }
    if [[ ! -e $WORK/reported && -f $WORK/output.$n ]]; then
        printf '\nreadme-test: the block at %s stopped; its output:\n' "$line" >&2
        cat "$WORK/output.$n" >&2
        echo >&2
    fi
    die "$line: block failed"
fi

printf '\nreadme-test: %d blocks of %s ran as pasted against %s\n' "$(wc -l <"$WORK/blocks")" "${DOCS[*]}" "$BIN"
