#!/usr/bin/env bash
# A PRIVATE, throw-away S3 endpoint for the test suite: moto_server (PyPI moto[server], pinned with
# every dependency in tests/s3/requirements.txt, in its own venv), bound to 127.0.0.1 on a free
# port, started and stopped by PID.
#
# Usage: scripts/s3-test-server.sh start|stop
#   start   start it (or reuse the running one); prints exactly one line on stdout: its URL
#   stop    stop it by PID and delete its directory; exit 0 also when nothing is running
#
# Layout, base = ${COFFERTEST_DIR:-/tmp/coffer-test}/s3: $base/pid, $base/port, $base/log.
set -euo pipefail

cd "$(dirname "$0")/.."
REQS="$PWD/tests/s3/requirements.txt"
BASE="${COFFERTEST_DIR:-/tmp/coffer-test}/s3"
[[ "$BASE" == /* ]] || BASE="$PWD/$BASE"
VENV="${COFFERTEST_S3_VENV:-/tmp/coffer-moto-venv-$(sha256sum "$REQS" | cut -c1-12)}"
START_TIMEOUT=60

exec 3>&1 1>&2
log() { echo "s3-test-server: $*"; }
die() { echo "s3-test-server: ERROR: $*"; exit 1; }

alive() {
    local state
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

running_pid() {
    local pid
    [[ -f "$BASE/pid" ]] || return 1
    pid="$(cat "$BASE/pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    grep -q moto "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    if pid="$(running_pid)"; then
        echo "http://127.0.0.1:$(cat "$BASE/port")" >&3
        return 0
    fi
    if [[ ! -x "$VENV/bin/moto_server" ]]; then
        log "creating $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS"
    fi
    mkdir -p "$BASE"
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    echo "$port" > "$BASE/port"
    # Closed fds 3+: the server must not keep the caller's $(...) pipe open.
    setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > "$BASE/log" 2>&1 3>&- < /dev/null &
    echo $! > "$BASE/pid"
    local deadline=$((SECONDS + START_TIMEOUT))
    until curl -sf "http://127.0.0.1:$port/moto-api/" > /dev/null 2>&1; do
        ((SECONDS < deadline)) || die "moto_server did not answer within ${START_TIMEOUT}s: $(tail -5 "$BASE/log")"
        alive "$(cat "$BASE/pid")" || die "moto_server exited: $(tail -5 "$BASE/log")"
        sleep 0.2
    done
    log "ready on 127.0.0.1:$port (pid $(cat "$BASE/pid"))"
    echo "http://127.0.0.1:$port" >&3
}

stop() {
    if pid="$(running_pid)"; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -9 "$pid" 2>/dev/null || true
        log "stopped (pid $pid)"
    fi
    rm -rf "$BASE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop" ;;
esac
