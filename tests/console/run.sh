#!/usr/bin/env bash
# The console in a real browser: headless Chromium (Debian's chromium and chromium-driver,
# installed by scripts/install-deps.sh), driven by selenium (pinned in requirements.txt, from
# PyPI), against a coffer started here on the debug build with a panic injected at the
# create's second step. Screenshots go to $COFFERTEST_ARTIFACTS (default target/console-artifacts).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
REQS="$ROOT/tests/console/requirements.txt"

source "$ROOT/tests/pinned-venv.sh"
VENV="$(pinned_venv console "$REQS" "${COFFERTEST_CONSOLE_VENV:-}")"

source "$ROOT/tests/private-coffer.sh"
private_coffer_env 78
# The [testing] hook: a panic in the create's step 1 (once), and a restart back-off long
# enough to see the restarted actor in the tree; a prepare slow enough to see BUILD.
export COFFER_TESTING_ENABLED=true
export COFFER_TESTING_FAIL_AT="create:1:panic"
export COFFER_TASKMANAGER_RETRY_BACKOFF_MS=3000
export COFFER_COMPUTE_SIMULATED_PREPARE_MS=2000
export COFFERTEST_ARTIFACTS="${COFFERTEST_ARTIFACTS:-$ROOT/target/console-artifacts}"
mkdir -p "$COFFERTEST_ARTIFACTS"

cleanup() {
    private_coffer_stop
    cp "$WORK/coffer.log" "$COFFERTEST_ARTIFACTS/coffer.log" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

private_coffer_start
COFFER_URL="http://127.0.0.1:$PORT" ADMIN_PASSWORD="$(cat "$WORK/admin-password")" \
    "$VENV/bin/python" "$ROOT/tests/console/test_console.py"
