#!/usr/bin/env bash
# The venv with oslo.messaging (tests/oslo/requirements.txt, pinned) that the amqp tests use to cast
# to coffer as a Trove guest would. Created once per set of requirements; prints its python.
set -euo pipefail
cd "$(dirname "$0")/.."
REQS="$PWD/tests/oslo/requirements.txt"
VENV="${COFFERTEST_OSLO_VENV:-/tmp/coffer-oslo-venv-$(sha256sum "$REQS" | cut -c1-12)}"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import oslo_messaging' 2>/dev/null; then
    echo "oslo-venv: creating $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS" >&2
fi
echo "$VENV/bin/python"
