# Sourced by the script-driven tests (tests/clients, tests/console): a private coffer on the
# debug build, in a fresh directory, on a free port of 127.0.0.1.
#
#   private_coffer_env PREFIX   sets WORK and PORT and exports COFFER_* for that coffer (its
#                               simulated servers' addresses under 127.PREFIX.x.0/24)
#   private_coffer_start        starts it (COFFER_PID), waits until it answers
#   private_coffer_stop         stops it, and the datastore servers it started, by pid

private_coffer_env() {
    WORK="$(mktemp -d /tmp/coffer-script-XXXXXX)"
    chmod 755 "$WORK"
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    export COFFER_API_BIND="127.0.0.1:$PORT"
    export COFFER_DATABASE_URL="sqlite://$WORK/coffer.db"
    export COFFER_COMPUTE_DATA_DIR="$WORK/i"
    export COFFER_COMPUTE_ADDRESS_POOL="127.$1.$((200 + RANDOM % 50)).0/24"
    export COFFER_SECRETS_MASTER_KEY_FILE="$WORK/master.key"
    export COFFER_AUTH_ADMIN_PASSWORD_FILE="$WORK/admin-password"
    export COFFER_GUEST_HEARTBEAT_INTERVAL_S=2
    export COFFER_BACKUP_LOCAL_DIR="$WORK/backups"
    export COFFER_LOG_FILTER=info
}

private_coffer_start() {
    "$ROOT/target/debug/coffer" > "$WORK/coffer.log" 2>&1 &
    COFFER_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$PORT/" > /dev/null && return 0
        sleep 0.1
    done
    echo "coffer did not answer on port $PORT; its log:" >&2
    tail -20 "$WORK/coffer.log" >&2
    return 1
}

private_coffer_stop() {
    [[ -n "${COFFER_PID:-}" ]] && kill "$COFFER_PID" 2>/dev/null && wait "$COFFER_PID" 2>/dev/null || true
    # The datastore servers, by the pids in their volumes.
    for f in "$WORK"/i/*/data/postmaster.pid "$WORK"/i/*/run/mysqld.pid "$WORK"/i/*/run/redis.pid; do
        [[ -f "$f" ]] && kill -9 "$(head -1 "$f")" 2>/dev/null || true
    done
}
