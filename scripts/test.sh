#!/usr/bin/env bash
# The project's ONE test command:   ./scripts/test.sh [cargo-test-args...]
#
#   1. installs system dependencies     (scripts/install-deps.sh)
#   2. builds everything                (cargo build --all-targets, dev profile)
#   3. starts a private PostgreSQL      (scripts/pg-test-server.sh), a private S3 endpoint
#      (scripts/s3-test-server.sh, moto_server) and a private RabbitMQ
#      (scripts/rabbitmq-test-server.sh), and exports COFFERTEST_PG_URL, COFFERTEST_S3_URL and
#      COFFERTEST_AMQP_URL for the tests; all are stopped again on exit
#   4. runs the tests                   (cargo test --all-targets)
#
# Extra arguments go to `cargo test` after --all-targets, e.g.
#   ./scripts/test.sh instances                 # only tests matching "instances"
#   ./scripts/test.sh instances -- --nocapture  # args after -- go to the test binary
# Environment:
#   COFFERTEST_THREADS  test threads (default 2)
#   COFFERTEST_DIR      where test servers live (default: a per-run dir
#                        /tmp/coffer-test/run-<pid>, so parallel runs don't clash)
#   COFFERTEST_LOG_FILTER  log filter of the coffer processes tests start (default warn);
#                        a failed test prints its coffer log's tail and keeps a copy in /tmp
set -euo pipefail

cd "$(dirname "$0")/.."
REPO_ROOT="$PWD"

# cargo is installed by rustup under ~/.cargo/bin, which may not be on PATH.
if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

TOTAL_START=$SECONDS

# phase NAME CMD... — run CMD, print "== phase NAME: Ns", return CMD's status.
phase() {
    local name="$1"; shift
    local start=$SECONDS rc=0
    echo ">> phase $name ..."
    "$@" || rc=$?
    echo "== phase $name: $((SECONDS - start))s$( ((rc == 0)) || echo " (FAILED, exit $rc)")"
    return "$rc"
}

finish() {
    local rc=$?
    trap - EXIT
    # Stop the services we started (harmless if they never started).
    if [[ -n "${PG_STARTED:-}" ]]; then
        bash "$REPO_ROOT/scripts/pg-test-server.sh" stop || true
    fi
    if [[ -n "${S3_STARTED:-}" ]]; then
        bash "$REPO_ROOT/scripts/s3-test-server.sh" stop || true
    fi
    if [[ -n "${AMQP_STARTED:-}" ]]; then
        bash "$REPO_ROOT/scripts/rabbitmq-test-server.sh" stop || true
    fi
    if command -v epmd >/dev/null 2>&1; then
        epmd -kill >/dev/null 2>&1 || true
    fi
    # The groups' kept output, on any exit (an interrupted run too).
    if [[ -n "${GROUP_LOGS:-}" ]]; then
        rm -rf "$GROUP_LOGS"
    fi
    # Remove our per-run dir (only if we chose it).
    if [[ -n "${OWN_TEST_DIR:-}" ]]; then
        rm -rf "$COFFERTEST_DIR"
    fi
    echo "== total: $((SECONDS - TOTAL_START))s, exit $rc"
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Per-run directory for test servers unless the caller chose one.
if [[ -z "${COFFERTEST_DIR:-}" ]]; then
    mkdir -p -m 755 /tmp/coffer-test
    # Clean up after earlier runs that were killed before their trap ran.
    for d in /tmp/coffer-test/run-*; do
        [[ -d "$d" ]] || continue
        pid="${d##*/run-}"
        # Dead = no such process, or a zombie (kill -0 succeeds on those).
        state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1 || true)"
        if [[ "$pid" =~ ^[0-9]+$ ]] && [[ -z "$state" || "$state" == Z ]]; then
            echo "test.sh: cleaning up stale $d"
            COFFERTEST_DIR="$d" bash scripts/pg-test-server.sh stop || true
            COFFERTEST_DIR="$d" bash scripts/s3-test-server.sh stop || true
            COFFERTEST_DIR="$d" bash scripts/rabbitmq-test-server.sh stop || true
            rm -rf "$d"
        fi
    done
    export COFFERTEST_DIR="/tmp/coffer-test/run-$$"
    OWN_TEST_DIR=1
fi
mkdir -p -m 755 "$COFFERTEST_DIR"

# Split our arguments: before "--" -> cargo test, after "--" -> test binary.
CARGO_ARGS=()
TEST_BIN_ARGS=()
seen_dashes=""
for a in "$@"; do
    if [[ -z "$seen_dashes" && "$a" == "--" ]]; then seen_dashes=1; continue; fi
    if [[ -n "$seen_dashes" ]]; then TEST_BIN_ARGS+=("$a"); else CARGO_ARGS+=("$a"); fi
done
THREADS_SET=""
for a in "${TEST_BIN_ARGS[@]+"${TEST_BIN_ARGS[@]}"}"; do
    [[ "$a" == --test-threads* ]] && THREADS_SET=1
done
[[ -n "$THREADS_SET" ]] || TEST_BIN_ARGS+=("--test-threads=${COFFERTEST_THREADS:-2}")

phase install bash scripts/install-deps.sh

phase build cargo build --all-targets
# The code as it must read: formatted, and no clippy warning.
phase fmt cargo fmt --check
phase clippy cargo clippy --all-targets -- -D warnings

start_pg() {
    local url
    url="$(bash scripts/pg-test-server.sh start)" || return 1
    export COFFERTEST_PG_URL="$url"
    echo "test.sh: COFFERTEST_PG_URL=$COFFERTEST_PG_URL"
}
PG_STARTED=1   # set early so the EXIT trap also cleans up a half-started server
phase pg start_pg

start_s3() {
    local url
    url="$(bash scripts/s3-test-server.sh start)" || return 1
    export COFFERTEST_S3_URL="$url"
    echo "test.sh: COFFERTEST_S3_URL=$COFFERTEST_S3_URL"
}
S3_STARTED=1
phase s3 start_s3

start_amqp() {
    local url
    url="$(bash scripts/rabbitmq-test-server.sh start)" || return 1
    export COFFERTEST_AMQP_URL="$url"
    echo "test.sh: COFFERTEST_AMQP_URL=$COFFERTEST_AMQP_URL"
}
AMQP_STARTED=1
phase rabbitmq start_amqp

oslo_venv() {
    local python
    python="$(bash scripts/oslo-venv.sh)" || return 1
    export COFFERTEST_OSLO_PYTHON="$python"
}
phase oslo-venv oslo_venv

if ((${#CARGO_ARGS[@]} > 0)); then
    # A filtered run: one phase.
    phase tests cargo test --all-targets "${CARGO_ARGS[@]}" -- "${TEST_BIN_ARGS[@]}"
else
    # The whole suite, one timed phase per group; every group runs even if one fails. Each
    # group's output is also kept, so that the failures are repeated, short, at the very end.
    GROUP_LOGS="$(mktemp -d)"
    logged() {
        local log="$GROUP_LOGS/$1"; shift
        "$@" 2>&1 | tee "$log"
    }
    rc=0
    phase "tests:unit" logged unit cargo test --lib --bins -- "${TEST_BIN_ARGS[@]}" || rc=1
    # Each module of tests/integration/ (but main and support) is one group.
    for file in tests/integration/*.rs; do
        group="$(basename "$file" .rs)"
        [[ "$group" == main || "$group" == support ]] && continue
        phase "tests:$group" logged "$group" cargo test --test integration -- "$group::" "${TEST_BIN_ARGS[@]}" || rc=1
    done
    # Trove's own clients (python-openstackclient, python-troveclient) against a running coffer.
    phase "tests:clients" logged clients bash tests/clients/run.sh || rc=1
    # The operator console in headless Chromium (selenium); screenshots in target/console-artifacts.
    phase "tests:browser" logged browser bash tests/console/run.sh || rc=1
    # Contract fuzzing: schemathesis against /openapi.json; reports in target/contract-artifacts.
    phase "tests:contract" logged contract bash tests/contract/run.sh || rc=1
    if ((rc != 0)); then
        echo "== failures (each failed test and its panic message; the full output is above)"
        for log in "$GROUP_LOGS"/*; do
            awk -v group="$(basename "$log")" '
                /^---- .* stdout ----$/ { print "[" group "] " $2; next }
                /panicked at/ { left = 3 }
                left > 0 { print "    " substr($0, 1, 600); left--; next }
                /^FAIL: |^not ok / { print "[" group "] " $0 }
                /^  ❌ ST[0-9]+ |^contract: .* exit status [1-9]/ { print "[" group "] " $0 }
            ' "$log"
        done
        # What the test PostgreSQL refused meanwhile (deadlocks, serialization failures, …).
        if [[ -f "$COFFERTEST_DIR/pg/log" ]]; then
            echo "== the test PostgreSQL's last errors"
            grep -E "ERROR|FATAL|DETAIL" "$COFFERTEST_DIR/pg/log" | tail -20 || true
        fi
    fi
    exit "$rc"
fi
