#!/usr/bin/env bash
# Install the system packages that the test suite needs (idempotent).
#
# Each requirement is one `need_pkg <binary> <debian-package>` line below:
# if <binary> (an absolute path, or a command name looked up in PATH) is
# missing, <debian-package> is queued. All queued packages are then installed
# with ONE `apt-get update` + ONE `apt-get install`. Nothing happens when
# everything is already present. To add a dependency, add a need_pkg line.
set -euo pipefail

MISSING_PKGS=()

# need_pkg <binary-path-or-command> <package>
need_pkg() {
    local bin="$1" pkg="$2"
    local found=""
    if [[ "$bin" == /* ]]; then
        [[ -x "$bin" ]] && found="$bin"
    else
        found="$(command -v "$bin" 2>/dev/null || true)"
    fi
    if [[ -n "$found" ]]; then
        echo "install-deps: ok      $pkg ($found)"
    else
        echo "install-deps: missing $pkg ($bin not found)"
        # Queue each package only once.
        local p
        for p in "${MISSING_PKGS[@]+"${MISSING_PKGS[@]}"}"; do
            [[ "$p" == "$pkg" ]] && return 0
        done
        MISSING_PKGS+=("$pkg")
    fi
}

# ---- The list of requirements ---------------------------------------------
# Private PostgreSQL 15 server for tests (scripts/pg-test-server.sh).
# Note: Debian's postgresql-15 package may create/start a system cluster on
# 5432; we never use it (our test server picks its own free port).
need_pkg /usr/lib/postgresql/15/bin/postgres  postgresql-15
need_pkg /usr/lib/postgresql/15/bin/pg_ctl    postgresql-15
need_pkg /usr/lib/postgresql/15/bin/initdb    postgresql-15
need_pkg /usr/lib/postgresql/15/bin/pg_isready postgresql-client-15
need_pkg psql                                 postgresql-client-15
need_pkg curl                                 curl
need_pkg python3                              python3     # free-port picker
need_pkg runuser                              util-linux  # run PG as 'postgres'
# The datastores coffer's process compute driver runs for instances (coffer
# starts each as a private server; nothing relies on the system service).
need_pkg /usr/sbin/mariadbd                   mariadb-server
need_pkg /usr/bin/mariadb-install-db          mariadb-server
need_pkg /usr/bin/redis-server                redis-server
# Backups: PostgreSQL's pg_basebackup, MariaDB's own backup tool (and mbstream), tar for WAL archives.
need_pkg /usr/lib/postgresql/15/bin/pg_basebackup postgresql-client-15
need_pkg /usr/bin/mariadb-backup              mariadb-backup
need_pkg /usr/bin/mbstream                    mariadb-backup
need_pkg tar                                  tar
# Replication: a MariaDB replica is seeded from a dump of its source, loaded with the client.
need_pkg /usr/bin/mariadb-dump                mariadb-client
need_pkg /usr/bin/mariadb                     mariadb-client-core
need_pkg setsid                               util-linux
# Each instance's own OS account (coffer as root), and its access rules at the host firewall.
need_pkg /usr/sbin/useradd                    passwd
need_pkg /usr/sbin/nft                        nftables
# The amqp bus's tests run a private RabbitMQ (scripts/rabbitmq-test-server.sh).
need_pkg /usr/lib/rabbitmq/bin/rabbitmq-server rabbitmq-server
# The console's browser test (tests/console/run.sh): headless Chromium and its WebDriver.
need_pkg /usr/bin/chromium                    chromium
need_pkg /usr/bin/chromedriver                chromium-driver
# ---------------------------------------------------------------------------

if [[ ${#MISSING_PKGS[@]} -eq 0 ]]; then
    echo "install-deps: nothing to install"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: ERROR: missing packages: ${MISSING_PKGS[*]}" >&2
    echo "install-deps: not running as root; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${MISSING_PKGS[*]}" >&2
    exit 1
fi

echo "install-deps: installing: ${MISSING_PKGS[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${MISSING_PKGS[@]}"
echo "install-deps: installed: ${MISSING_PKGS[*]}"
