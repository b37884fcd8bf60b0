#!/usr/bin/env bash
# A PRIVATE, throw-away PostgreSQL 15 server for the test suite.
# It never touches the system cluster: own data dir, own socket dir, and a
# free TCP port picked at start time on 127.0.0.1 (works whether or not a
# system PostgreSQL listens on 5432).
#
# Usage: scripts/pg-test-server.sh start|stop|status
#   start   start it (or reuse the running one); prints exactly one line on
#           stdout: postgres://postgres@127.0.0.1:PORT/postgres
#   stop    stop it (fast shutdown, falling back to signals) and delete its
#           directory; exit 0 also when nothing is running
#   status  print the URL and exit 0 if running, exit 1 otherwise
#
# Layout, base = ${COFFERTEST_DIR:-/tmp/coffer-test}/pg:
#   $base/data  data directory      $base/sock  unix socket directory
#   $base/log   server log          $base/port  chosen TCP port
#
# All diagnostics go to stderr; only the URL goes to stdout.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
BASE="${COFFERTEST_DIR:-/tmp/coffer-test}/pg"
[[ "$BASE" == /* ]] || BASE="$PWD/$BASE"   # make it absolute (we cd / below)
DATA="$BASE/data"
SOCK="$BASE/sock"
LOG="$BASE/log"
PORTFILE="$BASE/port"
PG_USER=postgres          # OS user that runs the server when we are root
START_TIMEOUT=30          # seconds, for pg_ctl -w and the pg_isready poll

# Keep the real stdout on fd 3 for the URL; everything else goes to stderr.
exec 3>&1 1>&2
umask 022
# The postgres user may not be allowed into the caller's cwd (e.g. /root).
cd /

log() { echo "pg-test-server: $*"; }
die() { echo "pg-test-server: ERROR: $*"; exit 1; }

url() { echo "postgres://postgres@127.0.0.1:$1/postgres"; }

# Run a command as the OS user that owns the cluster (postgres refuses root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

# Run "$@" with every file descriptor above 2 closed. The server started by
# pg_ctl would otherwise inherit them, e.g. fd 3 (our stdout), and keep the
# caller's pipe open: `URL=$(pg-test-server.sh start)` would never return.
without_extra_fds() {
    (
        fds=()
        for f in /proc/$BASHPID/fd/*; do fds+=("${f##*/}"); done
        for fd in "${fds[@]}"; do
            if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        "$@"    # may be a shell function (as_owner), so no exec
    )
}

# True if the process exists and is not a zombie.
alive() {
    local state
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

# PID of the postmaster if it is alive, else nothing (exit 1).
running_pid() {
    local pid
    [[ -f "$DATA/postmaster.pid" ]] || return 1
    pid="$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    # Guard against PID reuse by an unrelated process.
    grep -q postgres "/proc/$pid/comm" 2>/dev/null || return 1
    echo "$pid"
}

current_port() {
    local port=""
    [[ -f "$PORTFILE" ]] && port="$(cat "$PORTFILE")"
    # Fallback: line 4 of postmaster.pid is the port.
    [[ -n "$port" ]] || port="$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)"
    [[ "$port" =~ ^[0-9]+$ ]] || return 1
    echo "$port"
}

# A TCP port on 127.0.0.1 that is free right now (the kernel picks it).
free_port() {
    local py
    py="$(command -v python3 || true)"
    [[ -n "$py" ]] || py=/usr/bin/python3
    "$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

cmd_status() {
    local port
    if running_pid >/dev/null && port="$(current_port)"; then
        url "$port" >&3
        return 0
    fi
    log "not running (base: $BASE)"
    return 1
}

cmd_start() {
    local pid port
    if pid="$(running_pid)"; then
        port="$(current_port)" || die "server running (pid $pid) but port unknown"
        log "already running (pid $pid, port $port)"
        url "$port" >&3
        return 0
    fi

    [[ -x "$PGBIN/postgres" ]] || die "$PGBIN/postgres missing; run scripts/install-deps.sh"

    # Anything left from an earlier run is stale: start from scratch.
    rm -rf "$BASE"
    mkdir -p "$BASE" "$SOCK"
    if [[ $(id -u) -eq 0 ]]; then
        id "$PG_USER" >/dev/null 2>&1 \
            || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
        chown -R "$PG_USER:" "$BASE"
        chmod 700 "$SOCK"
        as_owner test -w "$BASE" \
            || die "user $PG_USER cannot write $BASE (is a parent dir not traversable? set COFFERTEST_DIR to a dir under /tmp)"
    fi

    # Locale: C.UTF-8 if the system has it, else plain C with UTF8 encoding.
    local locale_opt=--no-locale
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        locale_opt=--locale=C.UTF-8
    fi
    log "initdb in $DATA"
    as_owner "$PGBIN/initdb" -D "$DATA" -A trust -U postgres --encoding=UTF8 \
        "$locale_opt" >"$BASE/initdb.log" 2>&1 \
        || { cat "$BASE/initdb.log"; die "initdb failed"; }

    # The chosen port could be grabbed by someone else before postgres binds
    # it; retry with a new port a few times.
    local attempt ok=""
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        log "starting on 127.0.0.1:$port (attempt $attempt)"
        if without_extra_fds as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t "$START_TIMEOUT" \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start; then
            ok=1
            break
        fi
        log "pg_ctl start failed; last log lines:"
        tail -n 20 "$LOG" 2>/dev/null || true
        # Make sure a half-started server is not left behind.
        as_owner "$PGBIN/pg_ctl" -D "$DATA" stop -m immediate >/dev/null 2>&1 || true
    done
    [[ -n "$ok" ]] || die "could not start PostgreSQL (log: $LOG)"
    echo "$port" >"$PORTFILE"

    # Poll until it accepts TCP connections.
    local deadline=$((SECONDS + START_TIMEOUT))
    until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; do
        if ((SECONDS >= deadline)); then
            tail -n 20 "$LOG" || true
            die "server not ready after ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
    log "ready (pid $(running_pid || echo '?'))"
    url "$port" >&3
}

cmd_stop() {
    local pid
    if pid="$(running_pid)"; then
        log "stopping pid $pid"
        if ! as_owner "$PGBIN/pg_ctl" -D "$DATA" stop -m fast -w -t 30; then
            log "pg_ctl stop failed; sending SIGTERM to $pid"
            # Remember the server's child processes (each backend is in its
            # own session, so a process-group kill would miss them).
            local children
            children="$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -s ' \n' ' ' || true)"
            kill -TERM "$pid" 2>/dev/null || true
            local deadline=$((SECONDS + 10))
            while alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
            if alive "$pid"; then
                log "still alive after 10s; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            # Children exit on their own once the postmaster is gone; make
            # sure of it (these are PIDs we just read, owned by the server).
            local c
            for c in $children; do
                if alive "$c" && grep -q postgres "/proc/$c/comm" 2>/dev/null; then
                    kill -KILL "$c" 2>/dev/null || true
                fi
            done
        fi
        # The postmaster removes postmaster.pid just before it exits; give
        # the process a moment to actually disappear.
        local deadline2=$((SECONDS + 10))
        while alive "$pid" && ((SECONDS < deadline2)); do sleep 0.1; done
        if alive "$pid"; then die "pid $pid is still alive"; fi
    else
        log "not running"
    fi
    rm -rf "$BASE"
    log "removed $BASE"
}

case "${1:-}" in
    start)  cmd_start ;;
    stop)   cmd_stop ;;
    status) cmd_status ;;
    *)      echo "usage: $0 start|stop|status"; exit 2 ;;
esac
