#!/usr/bin/env bash
# with-postgres.sh — run a command against a throwaway PostgreSQL server.
#
# Usage: scripts/with-postgres.sh <command> [args...]
#
# Why this exists: lynk's test suite runs on SQLite by default and also
# against PostgreSQL when LYNK_TEST_DATABASE_URL is set. CI (and developers)
# need a PostgreSQL server for that without Docker or a system-wide service.
# This script creates a private cluster in a temp dir (trust auth, superuser
# role "lynk" able to CREATE DATABASE, listening on 127.0.0.1 only on a free
# port), exports LYNK_TEST_DATABASE_URL, runs the command, then stops the
# cluster and deletes its data dir (also on failure, Ctrl-C or SIGTERM).
# The exit code is the command's exit code.
#
# If LYNK_TEST_DATABASE_URL is already set, the command just runs with it.
#
# When the PostgreSQL server binaries are missing and we are root on
# Debian/Ubuntu, they are installed with apt-get (without creating or
# starting the distribution-managed cluster). initdb refuses to run as root,
# so as root the server runs as the "postgres" user (or a "lynkci" system
# user created on demand).
set -euo pipefail

log() { printf 'with-postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ $# -eq 0 ]]; then
    echo "usage: $0 <command> [args...]" >&2
    exit 2
fi

if [[ -n "${LYNK_TEST_DATABASE_URL:-}" ]]; then
    log "LYNK_TEST_DATABASE_URL is already set; using it (no cluster started)"
    exec "$@"
fi

# ---------------------------------------------------------------------------
# Locate (or install) initdb / pg_ctl.
# ---------------------------------------------------------------------------

# Highest-versioned /usr/lib/postgresql/<ver>/bin containing initdb and pg_ctl.
debian_pg_bindir() {
    local dir best="" best_ver=-1 ver
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] || continue
        ver="${dir#/usr/lib/postgresql/}"
        ver="${ver%/bin}"
        ver="${ver%%.*}" # "9.6" -> 9; majors >= 10 are plain integers
        [[ "$ver" =~ ^[0-9]+$ ]] || continue
        if ((ver > best_ver)); then
            best_ver=$ver
            best=$dir
        fi
    done
    [[ -n "$best" ]] && printf '%s\n' "$best"
}

find_pg_bindir() {
    local initdb_path pg_ctl_path
    if initdb_path="$(command -v initdb 2>/dev/null)" &&
        pg_ctl_path="$(command -v pg_ctl 2>/dev/null)"; then
        # Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
        # so initdb finds its sibling "postgres" binary and both come from the same version.
        initdb_path="$(readlink -f "$initdb_path")"
        pg_ctl_path="$(readlink -f "$pg_ctl_path")"
        if [[ "$(dirname "$initdb_path")" == "$(dirname "$pg_ctl_path")" ]]; then
            dirname "$initdb_path"
            return 0
        fi
    fi
    debian_pg_bindir
}

install_postgres_debian() {
    [[ $EUID -eq 0 ]] || die "PostgreSQL server binaries (initdb, pg_ctl) not found and not root; install PostgreSQL or set LYNK_TEST_DATABASE_URL"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL server binaries not found and apt-get is unavailable; install PostgreSQL or set LYNK_TEST_DATABASE_URL"
    log "PostgreSQL server binaries not found; installing with apt-get"

    # Don't let the package create or start the Debian-managed "main" cluster:
    # we only want the binaries and run our own private cluster.
    local created_conf="" created_policy=""
    local conf=/etc/postgresql-common/createcluster.d/00-lynk-no-main-cluster.conf
    if [[ ! -e "$conf" ]]; then
        mkdir -p "$(dirname "$conf")"
        echo "create_main_cluster = false" >"$conf"
        created_conf=$conf
    fi
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=/usr/sbin/policy-rc.d
    fi

    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
    } </dev/null >&2 || rc=$?

    [[ -n "$created_policy" ]] && rm -f "$created_policy"
    [[ -n "$created_conf" ]] && rm -f "$created_conf"
    ((rc == 0)) || die "apt-get install postgresql failed (exit $rc)"
}

PG_BINDIR="$(find_pg_bindir || true)"
if [[ -z "$PG_BINDIR" ]]; then
    install_postgres_debian
    PG_BINDIR="$(find_pg_bindir || true)"
    [[ -n "$PG_BINDIR" ]] || die "PostgreSQL installed but initdb/pg_ctl still not found"
fi
INITDB="$PG_BINDIR/initdb"
PG_CTL="$PG_BINDIR/pg_ctl"
PG_ISREADY=""
if [[ -x "$PG_BINDIR/pg_isready" ]]; then
    PG_ISREADY="$PG_BINDIR/pg_isready"
elif command -v pg_isready >/dev/null 2>&1; then
    PG_ISREADY="$(command -v pg_isready)"
fi

# ---------------------------------------------------------------------------
# Decide which OS user runs the server (initdb refuses to run as root).
# ---------------------------------------------------------------------------
RUN_AS=""
if [[ $EUID -eq 0 ]]; then
    if id -u postgres >/dev/null 2>&1; then
        RUN_AS=postgres
    else
        if ! id -u lynkci >/dev/null 2>&1; then
            log "creating system user lynkci to run PostgreSQL"
            useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin lynkci
        fi
        RUN_AS=lynkci
    fi
fi

# ---------------------------------------------------------------------------
# Temp dir + cleanup.
# ---------------------------------------------------------------------------
WORKDIR=""
DATADIR=""
# shellcheck disable=SC2317 # invoked from a trap
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$WORKDIR" && -d "$WORKDIR" ]]; then
        if [[ -f "$DATADIR/postmaster.pid" ]]; then
            as_pg "$PG_CTL" -D "$DATADIR" -m fast -w -t 30 stop >/dev/null 2>&1 ||
                as_pg "$PG_CTL" -D "$DATADIR" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
            # Last resort: kill the postmaster directly.
            if [[ -f "$DATADIR/postmaster.pid" ]]; then
                local pid
                pid="$(head -n1 "$DATADIR/postmaster.pid" 2>/dev/null || true)"
                if [[ "$pid" =~ ^[0-9]+$ ]]; then
                    kill -QUIT "$pid" 2>/dev/null || true
                    sleep 1
                    kill -KILL "$pid" 2>/dev/null || true
                fi
            fi
        fi
        rm -rf -- "$WORKDIR"
    fi
    exit "$status"
}
# On INT/TERM: pass the signal on to the command (if running), let it finish
# dying, then exit (which runs cleanup via the EXIT trap).
CHILD=""
# shellcheck disable=SC2317 # invoked from a trap
on_signal() {
    local sig=$1 code=$2
    trap - INT TERM
    if [[ -n "$CHILD" ]]; then
        kill -"$sig" "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    exit "$code"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

# Run a command as the server's OS user, from a directory it can access.
as_pg() {
    if [[ -n "$RUN_AS" ]]; then
        (cd "$WORKDIR" && runuser -u "$RUN_AS" -- "$@")
    else
        (cd "$WORKDIR" && "$@")
    fi
}

# Create the work dir somewhere the server user can reach (TMPDIR may be
# e.g. under /root, which "postgres" cannot traverse).
make_workdir() {
    local base dir
    for base in "${TMPDIR:-/tmp}" /tmp; do
        dir="$(mktemp -d "$base/lynk-pg.XXXXXX" 2>/dev/null)" || continue
        if [[ -n "$RUN_AS" ]]; then
            chown "$RUN_AS:" "$dir"
            if ! runuser -u "$RUN_AS" -- test -w "$dir" 2>/dev/null; then
                rm -rf -- "$dir"
                continue
            fi
        fi
        printf '%s\n' "$dir"
        return 0
    done
    return 1
}
WORKDIR="$(make_workdir)" || die "could not create a temp dir usable by ${RUN_AS:-$(id -un)}"
DATADIR="$WORKDIR/data"
SOCKDIR="$WORKDIR/sock"
LOGFILE="$WORKDIR/postgres.log"
as_pg mkdir -p "$SOCKDIR"

# ---------------------------------------------------------------------------
# initdb + configuration.
# ---------------------------------------------------------------------------
if ! as_pg env LC_ALL=C "$INITDB" -D "$DATADIR" -U lynk --auth=trust \
    --encoding=UTF8 --no-locale >"$WORKDIR/initdb.log" 2>&1; then
    cat "$WORKDIR/initdb.log" >&2
    die "initdb failed"
fi

# Appended settings override the defaults written by initdb.
as_pg tee -a "$DATADIR/postgresql.conf" >/dev/null <<EOF

# --- lynk throwaway test cluster (scripts/with-postgres.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCKDIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

# ---------------------------------------------------------------------------
# Pick a free port and start. Retry on the next port if another process
# grabbed it between our check and the server's bind.
# ---------------------------------------------------------------------------
port_in_use() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

PORT=""
port=55432
for _attempt in 1 2 3 4 5; do
    while port_in_use "$port"; do
        port=$((port + 1))
        ((port < 65535)) || die "no free port found"
    done
    if as_pg "$PG_CTL" -D "$DATADIR" -l "$LOGFILE" -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
        PORT=$port
        break
    fi
    log "server failed to start on port $port; retrying on another port"
    port=$((port + 1))
done
if [[ -z "$PORT" ]]; then
    tail -n 50 "$LOGFILE" >&2 2>/dev/null || true
    die "could not start PostgreSQL"
fi

if [[ -n "$PG_ISREADY" ]]; then
    ready=""
    for _i in $(seq 1 60); do
        if "$PG_ISREADY" -q -h 127.0.0.1 -p "$PORT" -U lynk -d postgres; then
            ready=1
            break
        fi
        sleep 0.5
    done
    if [[ -z "$ready" ]]; then
        tail -n 50 "$LOGFILE" >&2 2>/dev/null || true
        die "PostgreSQL did not become ready"
    fi
fi

export LYNK_TEST_DATABASE_URL="postgres://lynk@127.0.0.1:$PORT/postgres"
log "PostgreSQL $("$PG_CTL" --version | awk '{print $3}') ready: LYNK_TEST_DATABASE_URL=$LYNK_TEST_DATABASE_URL"

# ---------------------------------------------------------------------------
# Run the command; the EXIT trap stops the server and removes the temp dir.
# It runs in the background (with our stdin, and SIGINT/SIGQUIT restored,
# which bash would otherwise ignore for background jobs) so that a SIGTERM
# sent to this script alone is handled right away and forwarded to it,
# instead of only after the command has finished on its own.
# ---------------------------------------------------------------------------
(
    trap - INT QUIT TERM
    exec "$@"
) <&0 &
CHILD=$!
rc=0
wait "$CHILD" || rc=$?
CHILD=""
exit "$rc"
