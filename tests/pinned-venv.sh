# Sourced by the script-driven tests (tests/clients, tests/console, tests/contract): a Python
# venv holding exactly one requirements.txt (pinned, from PyPI), reused across runs while that
# file is unchanged, and made again when an earlier install did not finish.
#
#   pinned_venv NAME REQUIREMENTS [DIR]   prints the venv's path: DIR as it is when given
#                                         (the caller's own venv), else one named after NAME
#                                         and the requirements' hash

pinned_venv() {
    local name="$1" reqs="$2"
    if [[ -n "${3:-}" ]]; then
        echo "$3"
        return 0
    fi
    local venv
    venv="/tmp/coffer-$name-venv-$(sha256sum "$reqs" | cut -c1-12)"
    if [[ ! -f "$venv/.installed" ]]; then
        echo "$name: creating $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" >&2 &&
            "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs" >&2 &&
            touch "$venv/.installed" || return 1
    fi
    echo "$venv"
}
