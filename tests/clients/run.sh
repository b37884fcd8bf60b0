#!/usr/bin/env bash
# Drives a real coffer with Trove's own clients (python-openstackclient + python-troveclient,
# pinned in requirements.txt, from PyPI) exactly as a user would: password auth through
# OS_AUTH_URL, then the same with --os-auth-type admin_token. Every command's printed output is
# checked. Needs the debug build (cargo build) and the datastores scripts/install-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
REQS="$ROOT/tests/clients/requirements.txt"

source "$ROOT/tests/pinned-venv.sh"
VENV="$(pinned_venv clients "$REQS" "${COFFERTEST_VENV:-}")"
OS="$VENV/bin/openstack"

source "$ROOT/tests/private-coffer.sh"
private_coffer_env 77
COFFER="$ROOT/target/debug/coffer"

cleanup() {
    private_coffer_stop
    rm -rf "$WORK"
}
trap cleanup EXIT

private_coffer_start
echo "sh0p-pass" | "$COFFER" user create alice --project shop --role member --password-stdin

PASSED=0
FAILED=0
OUT=""
# run DESCRIPTION CMD... — runs CMD, keeps its output in $OUT; a failing command fails the check.
run() {
    local what="$1"; shift
    if OUT="$("$@" 2>&1)"; then return 0; fi
    echo "FAIL: $what: command failed:"; echo "$OUT" | tail -5
    FAILED=$((FAILED + 1)); return 1
}
# expect DESCRIPTION PATTERN — the last output contains PATTERN (grep -E).
expect() {
    if grep -qE -- "$2" <<< "$OUT"; then
        PASSED=$((PASSED + 1)); echo "ok: $1"
    else
        FAILED=$((FAILED + 1)); echo "FAIL: $1: no /$2/ in:"; echo "$OUT" | tail -8
    fi
}
wait_status() { # NAME STATUS — polls `instance show` until the status is STATUS
    for _ in $(seq 1 240); do
        if OUT="$($OS database instance show "$1" -f value -c status 2>&1)" && [[ "$OUT" == "$2" ]]; then return 0; fi
        sleep 0.5
    done
    return 1
}

export OS_AUTH_URL="http://127.0.0.1:$PORT/v3" OS_USERNAME=alice OS_PASSWORD=sh0p-pass OS_PROJECT_NAME=shop \
    OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=RegionOne

run "datastore list" $OS datastore list -f value -c Name && expect "datastore list names postgresql and mariadb" "postgresql" && expect "… and mariadb" "mariadb"
run "datastore show" $OS datastore show postgresql -f json && expect "datastore show" '"name": "postgresql"'
run "datastore version list" $OS datastore version list postgresql -f value && expect "datastore version list" "15"
run "flavor list" $OS database flavor list -f value && expect "flavor list" "m1.tiny"
run "instance create postgresql" $OS database instance create pg1 --flavor 1 --size 1 --datastore postgresql \
    --datastore-version 15 --databases db1 --users u1:pw1 -f value -c name && expect "instance create postgresql" "^pg1$"
run "instance create mariadb" $OS database instance create my1 --flavor 1 --size 1 --datastore mariadb \
    --datastore-version 10.11 --databases db1 --users u1:pw1 -f value -c name && expect "instance create mariadb" "^my1$"
if wait_status pg1 ACTIVE && wait_status my1 ACTIVE; then PASSED=$((PASSED + 1)); echo "ok: both instances ACTIVE"; else FAILED=$((FAILED + 1)); echo "FAIL: instances not ACTIVE: $OUT"; fi
run "instance list" $OS database instance list -f value -c Name -c Status && expect "instance list" "pg1 ACTIVE" && expect "instance list (mariadb)" "my1 ACTIVE"
ID="$($OS database instance show pg1 -f value -c id)"
run "instance show by id" $OS database instance show "$ID" -f value -c name && expect "instance show by id" "^pg1$"
run "instance show by name" $OS database instance show pg1 -f json && expect "instance show has the address" '"ip": "127\.77\.'
run "db create" $OS database db create pg1 db2 && run "db list" $OS database db list pg1 -f value && expect "db list" "db2" && expect "db list (initial)" "db1"
run "user create" $OS database user create pg1 u2 pw2 --databases db2 && run "user list" $OS database user list pg1 -f value -c Name
expect "user list" "u2" && expect "user list (initial)" "u1"
run "limit list" $OS database limit list -f value && expect "limit list" "ABSOLUTE"

# Backups: create, list, show by name, restore into a new instance, register a copy, delete.
run "backup create" $OS database backup create bk1 -i pg1 --description hello -f value -c name -c status \
    && expect "backup create" "bk1"
for _ in $(seq 1 240); do
    OUT="$($OS database backup show bk1 -f value -c status 2>&1)"; [[ "$OUT" == COMPLETED ]] && break; sleep 0.5
done
expect "backup completes" "^COMPLETED$"
run "backup list" $OS database backup list -f value -c Name -c Status && expect "backup list" "bk1 COMPLETED"
run "backup show" $OS database backup show bk1 -f json && expect "backup show" '"description": "hello"'
run "restore create" $OS database instance create pg2 --flavor 1 --size 1 --backup bk1 -f value -c name \
    && expect "restore create" "^pg2$"
if wait_status pg2 ACTIVE; then PASSED=$((PASSED + 1)); echo "ok: restored instance ACTIVE"; else FAILED=$((FAILED + 1)); echo "FAIL: pg2 not ACTIVE: $OUT"; fi
run "restored db list" $OS database db list pg2 -f value && expect "restored databases" "db2"
# Registering a backup already in the store (--restore-from): a copy of bk1's object, as an
# operator would bring one from another region, registers RESTORED and is deleted again.
LOC="$($OS database backup show bk1 -f value -c locationRef)"
SIZE="$($OS database backup show bk1 -f value -c size)"
VER="$($OS datastore version show 15 --datastore postgresql -f value -c id)"
COPY="${LOC%/*/*}/copied/1.tar.zst"
mkdir -p "$(dirname "${COPY#file://}")" && cp "${LOC#file://}" "${COPY#file://}"
run "backup register" $OS database backup create bk2 --restore-from "$COPY" --restore-datastore-version "$VER" \
    --restore-size "$SIZE" -f value -c status && expect "backup register" "^RESTORED$"
run "registered backup delete" $OS database backup delete bk2
run "backup delete" $OS database backup delete bk1
for _ in $(seq 1 60); do
    OUT="$($OS database backup list -f value -c Name 2>&1)"; [[ -z "$OUT" ]] && break; sleep 0.5
done
[[ -z "$OUT" ]] && { PASSED=$((PASSED + 1)); echo "ok: backup deleted"; } || { FAILED=$((FAILED + 1)); echo "FAIL: backup still listed: $OUT"; }

# The same, with a token obtained from coffer and no Keystone traffic.
TOKEN="$($OS token issue -f value -c id)"
PROJECT="$($OS token issue -f value -c project_id)"
ADMIN_TOKEN=(env -u OS_AUTH_URL -u OS_USERNAME -u OS_PASSWORD -u OS_PROJECT_NAME -u OS_USER_DOMAIN_NAME
    -u OS_PROJECT_DOMAIN_NAME -u OS_REGION_NAME "$OS" --os-auth-type admin_token
    --os-endpoint "http://127.0.0.1:$PORT/v1.0/$PROJECT" --os-token "$TOKEN")
run "admin_token flavor list" "${ADMIN_TOKEN[@]}" database flavor list -f value && expect "admin_token flavor list" "m1.small"
run "admin_token instance list" "${ADMIN_TOKEN[@]}" database instance list -f value -c Name && expect "admin_token instance list" "pg1"

run "log list" $OS database log list pg1 -f value -c Name -c Type && expect "log list" "^general USER$"
run "log set --enable" $OS database log set pg1 general --enable -f value -c status && expect "log set --enable" "Enabled"
run "log set --publish" $OS database log set pg1 general --publish -f value -c status && expect "log set --publish" "Published|Partial"
run "log show" $OS database log show pg1 general -f value -c type && expect "log show" "USER"

# The compute view (Nova's shape) with an admin's credentials: pg1's server, whose flavor follows
# a resize; a member is refused.
AS_ADMIN=(env OS_USERNAME=admin OS_PASSWORD="$(cat "$WORK/admin-password")" OS_PROJECT_NAME=admin "$OS")
run "server list" "${AS_ADMIN[@]}" server list -f value -c Name -c Status -c Flavor && expect "server list" "^pg1 ACTIVE m1.tiny$"
SERVER="$("${AS_ADMIN[@]}" server list --name pg1 -f value -c ID 2>&1)"
run "server show" "${AS_ADMIN[@]}" server show "$SERVER" -f json && expect "server show" '"flavor": "m1.tiny \(1\)"' \
    && expect "server show has the address" '127\.77\.'
run "instance resize" $OS database instance resize flavor pg1 2
wait_status pg1 ACTIVE || { FAILED=$((FAILED + 1)); echo "FAIL: pg1 not ACTIVE after the resize: $OUT"; }
run "server show after resize" "${AS_ADMIN[@]}" server show "$SERVER" -f value -c flavor && expect "the server's flavor follows the resize" "m1.small \(2\)"
if OUT="$($OS server list 2>&1)"; then
    FAILED=$((FAILED + 1)); echo "FAIL: a member listed servers: $OUT"
else
    expect "a member may not list servers" "(Forbidden|forbidden|403)"
fi

# PUT access and PATCH upgrade through the client's own calls.
run "instance update --allowed-cidr" $OS database instance update pg1 --allowed-cidr 127.0.0.0/8
for _ in $(seq 1 120); do
    OUT="$($OS database instance show pg1 -f value -c allowed_cidrs 2>&1)"; [[ "$OUT" == *127.0.0.0/8* ]] && break; sleep 0.5
done
expect "the access rules are applied and shown" "127\.0\.0\.0/8"
wait_status pg1 ACTIVE || { FAILED=$((FAILED + 1)); echo "FAIL: pg1 not ACTIVE after the access update: $OUT"; }
run "instance upgrade" $OS database instance upgrade pg1 15
wait_status pg1 ACTIVE || { FAILED=$((FAILED + 1)); echo "FAIL: pg1 not ACTIVE after the upgrade: $OUT"; }
run "instance show version" $OS database instance show pg1 -f value -c datastore_version_number \
    && expect "the server's own version" "^15\.[0-9]+$"

# Configuration groups: the catalog, a group's life, attach / default / set / detach.
run "configuration parameter list" $OS database configuration parameter list 15 --datastore postgresql \
    -f value -c Name -c "Restart Required" && expect "shared_buffers needs a restart" "^shared_buffers True$" \
    && expect "statement_timeout is dynamic" "^statement_timeout False$"
run "configuration parameter show" $OS database configuration parameter show 15 max_connections --datastore postgresql \
    -f json && expect "configuration parameter show" '"restart_required": true'
if OUT="$($OS database configuration create bad '{"port": 5433}' --datastore postgresql --datastore-version 15 2>&1)"; then
    FAILED=$((FAILED + 1)); echo "FAIL: a group may not set port: $OUT"
else
    expect "configuration create refuses what coffer keeps" "port is not supported.*HTTP 422"
fi
run "configuration create" $OS database configuration create cg1 '{"statement_timeout": 5000, "shared_buffers": 4096}' \
    --datastore postgresql --datastore-version 15 -f json && expect "configuration create" '"instance_count": 0'
run "configuration list" $OS database configuration list -f value -c Name && expect "configuration list" "^cg1$"
run "configuration show" $OS database configuration show cg1 -f value -c id && CG="$OUT"
run "configuration attach" $OS database configuration attach pg1 cg1
wait_status pg1 RESTART_REQUIRED && expect "attached: a restart is owed" "RESTART_REQUIRED" \
    || { FAILED=$((FAILED + 1)); echo "FAIL: pg1 not RESTART_REQUIRED after the attach: $OUT"; }
run "configuration instances" $OS database configuration instances cg1 -f value -c Name && expect "configuration instances" "^pg1$"
run "instance show configuration" $OS database instance show pg1 -f value -c configuration && expect "instance show names the group" "$CG"
run "configuration default" $OS database configuration default pg1 -f value -c statement_timeout \
    && expect "the dynamic value runs" "^5000$"
run "instance restart" $OS database instance restart pg1
wait_status pg1 ACTIVE || { FAILED=$((FAILED + 1)); echo "FAIL: pg1 not ACTIVE after the restart: $OUT"; }
run "configuration default after restart" $OS database configuration default pg1 -f value -c shared_buffers \
    && expect "the restart applied the other" "^4096$"
run "configuration set" $OS database configuration set "$CG" '{"statement_timeout": 7000}'
for _ in $(seq 1 120); do
    OUT="$($OS database configuration default pg1 -f value -c statement_timeout 2>&1)"; [[ "$OUT" == 7000 ]] && break; sleep 0.5
done
expect "configuration set reaches the server" "^7000$"
run "configuration detach" $OS database configuration detach pg1
for _ in $(seq 1 120); do
    OUT="$($OS database configuration default pg1 -f value -c statement_timeout 2>&1)"; [[ "$OUT" == 0 ]] && break; sleep 0.5
done
expect "configuration detach restores the default" "^0$"
run "configuration delete" $OS database configuration delete cg1
run "configuration list after delete" $OS database configuration list -f value -c Name
[[ -z "$OUT" ]] && { PASSED=$((PASSED + 1)); echo "ok: configuration deleted"; } || { FAILED=$((FAILED + 1)); echo "FAIL: still listed: $OUT"; }

# Replication: a replica by name, a switchover, a refused eject, a detach.
wait_field() { # NAME PATTERN — polls `instance show -f json` until it matches PATTERN
    for _ in $(seq 1 240); do
        if OUT="$($OS database instance show "$1" -f json 2>&1)" && grep -qE -- "$2" <<< "$OUT"; then return 0; fi
        sleep 0.5
    done
    return 1
}
run "replica create" $OS database instance create pg1r --replica-of pg1 -f value -c name && expect "replica create" "^pg1r$"
wait_status pg1r ACTIVE || { FAILED=$((FAILED + 1)); echo "FAIL: pg1r not ACTIVE: $OUT"; }
run "replica show" $OS database instance show pg1r -f json && expect "the replica names its source" '"replica_of": "'
run "source show" $OS database instance show pg1 -f json && expect "the source lists its replica" '"replicas": "'
if OUT="$($OS database instance eject pg1r 2>&1)"; then
    FAILED=$((FAILED + 1)); echo "FAIL: eject with a healthy source: $OUT"
else
    expect "eject is refused while the source is healthy" "heartbeat.*HTTP 400"
fi
run "instance promote" $OS database instance promote pg1r
# pg1 owes a restart from its configuration group's detach: RESTART_REQUIRED is as good as ACTIVE.
wait_field pg1 '"replica_of": "' && wait_field pg1 '"status": "(ACTIVE|RESTART_REQUIRED)"' && wait_status pg1r ACTIVE \
    && { PASSED=$((PASSED + 1)); echo "ok: promote: pg1 follows pg1r"; } \
    || { FAILED=$((FAILED + 1)); echo "FAIL: pg1 does not follow pg1r: $OUT"; }
run "instance detach" $OS database instance detach pg1
for _ in $(seq 1 240); do
    OUT="$($OS database instance show pg1 -f json 2>&1)"
    grep -q '"replica_of"' <<< "$OUT" || { grep -qE '"status": "(ACTIVE|RESTART_REQUIRED)"' <<< "$OUT" && break; }
    sleep 0.5
done
grep -q '"replica_of"' <<< "$OUT" && OUT="still a replica: $OUT"
expect "detach: pg1 stands alone" '"status": "(ACTIVE|RESTART_REQUIRED)"'
run "instance delete" $OS database instance delete pg1 pg1r my1 pg2
for _ in $(seq 1 240); do
    OUT="$($OS database instance list -f value -c Name 2>&1)"; [[ -z "$OUT" ]] && break; sleep 0.5
done
[[ -z "$OUT" ]] && { PASSED=$((PASSED + 1)); echo "ok: instances deleted"; } || { FAILED=$((FAILED + 1)); echo "FAIL: still listed: $OUT"; }

if ((FAILED > 0)); then
    echo "--- coffer log (tail)"; tail -20 "$WORK/coffer.log"
fi
echo "clients: $PASSED passed, $FAILED failed"
((FAILED == 0))
