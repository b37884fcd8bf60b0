#!/usr/bin/env bash
# A PRIVATE, throw-away RabbitMQ for the test suite (Debian's rabbitmq-server): its own node name,
# data, log and cookie directory, bound to 127.0.0.1 on free ports, started and stopped by PID,
# whether or not a system RabbitMQ runs.
#
# Usage: scripts/rabbitmq-test-server.sh start|stop|restart|queues|close-connections
#   start   start it (or reuse the running one); prints exactly one line on stdout: its amqp:// URL
#   stop    stop it (rabbitmqctl stop, then signals by PID), `epmd -kill`, delete its directory
#   restart stop the node and start it again on the same ports and data (tests of reconnection)
#   queues  prints one line per queue: name, consumers, messages (tests of queue clean-up)
#   close-connections  closes every client connection, as a network cut would (tests of redelivery)
#
# Layout, base = ${COFFERTEST_DIR:-/tmp/coffer-test}/rabbitmq: $base/mnesia, $base/log, $base/home
# (the Erlang cookie), $base/pid, $base/port, $base/dist_port, $base/epmd_port.
set -euo pipefail

BASE="${COFFERTEST_DIR:-/tmp/coffer-test}/rabbitmq"
[[ "$BASE" == /* ]] || BASE="$PWD/$BASE"
BIN=/usr/lib/rabbitmq/bin
START_TIMEOUT=90

exec 3>&1 1>&2
log() { echo "rabbitmq-test-server: $*"; }
die() { echo "rabbitmq-test-server: ERROR: $*"; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The environment every rabbitmq command of this private node runs with.
node_env() {
    export RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1
    export HOME="$BASE/home" RABBITMQ_MNESIA_BASE="$BASE/mnesia" RABBITMQ_LOG_BASE="$BASE/log"
    export RABBITMQ_PID_FILE="$BASE/pid" RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins"
    export RABBITMQ_CONFIG_FILE="$BASE/rabbitmq" RABBITMQ_ADVANCED_CONFIG_FILE="$BASE/advanced.config"
    export RABBITMQ_CONF_ENV_FILE="$BASE/rabbitmq-env.conf"
    # Its own epmd on its own port: the node name rabbit@localhost never clashes with another
    # node (a system RabbitMQ, another test run), and `epmd -kill` stops only ours.
    [[ -f "$BASE/port" ]] && export RABBITMQ_NODE_PORT="$(cat "$BASE/port")" RABBITMQ_DIST_PORT="$(cat "$BASE/dist_port")" \
        ERL_EPMD_PORT="$(cat "$BASE/epmd_port")"
    true
}

alive() {
    local state
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

running_pid() {
    local pid
    [[ -f "$BASE/pid" ]] || return 1
    pid="$(cat "$BASE/pid" 2>/dev/null)"
    [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    grep -q beam "/proc/$pid/comm" 2>/dev/null || return 1
    echo "$pid"
}

url() { echo "amqp://guest:guest@127.0.0.1:$(cat "$BASE/port")/%2f"; }

start() {
    if running_pid > /dev/null; then url >&3; return 0; fi
    rm -rf "$BASE"
    mkdir -p "$BASE/home" "$BASE/mnesia" "$BASE/log"
    echo "[]." > "$BASE/enabled_plugins"
    : > "$BASE/rabbitmq-env.conf"
    # Erlang's distribution port (the CLI talks to the node on it) listens on loopback too.
    echo "[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}]." > "$BASE/advanced.config"
    # guest may log in from 127.0.0.1 only, which is where everything runs.
    echo "loopback_users.guest = true" > "$BASE/rabbitmq.conf"
    free_port > "$BASE/port"
    free_port > "$BASE/dist_port"
    free_port > "$BASE/epmd_port"
    start_node
}

# Starts the node configured in $BASE and waits until it is ready.
start_node() {
    rm -f "$BASE/pid"
    node_env
    # fd 3 (our stdout) closed for the whole subshell: the server must not keep the caller's
    # $(...) pipe open.
    (cd "$BASE" && exec setsid "$BIN/rabbitmq-server" > "$BASE/log/server.out" 2>&1 < /dev/null) 3>&- &
    local deadline=$((SECONDS + START_TIMEOUT))
    until [[ -f "$BASE/pid" ]] && "$BIN/rabbitmqctl" -q await_startup --timeout 5 > /dev/null 2>&1; do
        ((SECONDS < deadline)) || die "RabbitMQ did not start within ${START_TIMEOUT}s: $(tail -5 "$BASE/log/server.out")"
        sleep 0.5
    done
    log "ready on 127.0.0.1:$(cat "$BASE/port") (pid $(cat "$BASE/pid"))"
    url >&3
}

# Stops the node, keeping its directory.
stop_node() {
    if pid="$(running_pid)"; then
        node_env
        timeout 30 "$BIN/rabbitmqctl" -q stop > /dev/null 2>&1 || true
        for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -9 "$pid" 2>/dev/null || true
        log "stopped (pid $pid)"
    fi
}

stop() {
    stop_node
    if [[ -f "$BASE/epmd_port" ]]; then
        ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$(cat "$BASE/epmd_port")" epmd -kill > /dev/null 2>&1 || true
    fi
    rm -rf "$BASE"
}

restart() {
    [[ -f "$BASE/port" ]] || die "not started"
    stop_node
    start_node
}

queues() {
    running_pid > /dev/null || die "not running"
    node_env
    "$BIN/rabbitmqctl" -q list_queues --no-table-headers name consumers messages >&3
}

close_connections() {
    running_pid > /dev/null || die "not running"
    node_env
    "$BIN/rabbitmqctl" -q close_all_connections "closed by the test" > /dev/null
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart) restart ;;
    queues) queues ;;
    close-connections) close_connections ;;
    *) die "usage: $0 start|stop|restart|queues|close-connections" ;;
esac
