#!/usr/bin/env bash
# Contract fuzzing: schemathesis (pinned in requirements.txt, from PyPI) reads coffer's own
# /openapi.json and fuzzes every documented operation with generated requests, valid and
# invalid, with an admin's token, against a coffer started here on the debug build that holds
# an ACTIVE simulated instance (with a database and a user), a backup and a configuration
# group, so that answers carry real bodies. Two passes of $COFFERTEST_CONTRACT_SECONDS (200)
# each: with those fixtures in the paths, then with every parameter but the project generated.
# It fails on any 5xx (a 501 too: the fixtures' simulated datastore supports everything), on a
# status the document does not list, or on a body or content type the document does not describe.
# Reports go to $COFFERTEST_ARTIFACTS (default target/contract-artifacts);
# COFFERTEST_CONTRACT_REPORT=junit,har also records every request and answer.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
REQS="$ROOT/tests/contract/requirements.txt"

source "$ROOT/tests/pinned-venv.sh"
VENV="$(pinned_venv contract "$REQS" "${COFFERTEST_CONTRACT_VENV:-}")"

source "$ROOT/tests/private-coffer.sh"
private_coffer_env 79
export COFFER_COMPUTE_SIMULATED_PREPARE_MS=200
export COFFERTEST_ARTIFACTS="${COFFERTEST_ARTIFACTS:-$ROOT/target/contract-artifacts}"
rm -rf "$COFFERTEST_ARTIFACTS/fixtures" "$COFFERTEST_ARTIFACTS/free"
mkdir -p "$COFFERTEST_ARTIFACTS"

cleanup() {
    private_coffer_stop
    cp "$WORK/coffer.log" "$COFFERTEST_ARTIFACTS/coffer.log" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

private_coffer_start
URL="http://127.0.0.1:$PORT"
"$VENV/bin/python" "$ROOT/tests/contract/fixtures.py" "$URL" "$(cat "$WORK/admin-password")" > "$WORK/fixtures.env"
# COFFER_TOKEN, PROJECT_ID, and the fixtures' ids (INSTANCE_ID, DOOMED_INSTANCE_ID, …)
set -a
source "$WORK/fixtures.env"
set +a

cp "$ROOT/tests/contract/schemathesis.toml" "$WORK/free.toml"
cat "$ROOT/tests/contract/schemathesis.toml" "$ROOT/tests/contract/fixtures.toml" > "$WORK/fixtures.toml"

# Two passes: with the fixtures in the paths (the handlers' real work: ids that exist, bodies
# that reach the guest), then with every parameter generated (each operation then gets its
# full count of examples; a pinned operation without other inputs has only a few).
status=0
for pass in fixtures free; do
    started=$SECONDS
    pass_status=0
    # Run from the scratch directory: schemathesis keeps its cache in the working directory.
    (cd "$WORK" && "$VENV/bin/schemathesis" --config-file "$WORK/$pass.toml" run "$URL/openapi.json" \
        --max-examples "${COFFERTEST_CONTRACT_EXAMPLES:-100}" --max-time "${COFFERTEST_CONTRACT_SECONDS:-200}" \
        --report "${COFFERTEST_CONTRACT_REPORT:-junit}" --report-dir "$COFFERTEST_ARTIFACTS/$pass") || pass_status=$?
    echo "contract: the $pass pass took $((SECONDS - started)) s, exit status $pass_status"
    if [[ $pass_status -ne 0 ]]; then status=$pass_status; fi
done
cp "$WORK/coffer.log" "$COFFERTEST_ARTIFACTS/coffer.log" 2>/dev/null || true
exit "$status"
