#!/usr/bin/env bash
# Installs Debian's PostgreSQL server and Redis server for the services test
# (tests/test_deploy_postgres_celery.py) when they are missing. Nothing is started or
# configured here: the test runs its own throwaway cluster and redis-server on 127.0.0.1.
# Safe to run again: it does nothing when initdb and redis-server are already there.
set -euo pipefail

have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_redis() {
  command -v redis-server >/dev/null 2>&1
}

if have_postgres && have_redis; then
  exit 0
fi
packages=()
have_postgres || packages+=(postgresql)
have_redis || packages+=(redis-server)
echo "install_services: installing ${packages[*]} from Debian" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
# Keep the packages' maintainer scripts from starting system-wide services (a Redis on 6379,
# the "main" PostgreSQL cluster): the test never uses them. policy-rc.d exit 101 = "not
# allowed"; an existing policy is left alone.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
have_postgres || { echo "install_services: initdb is still missing" >&2; exit 1; }
have_redis || { echo "install_services: redis-server is still missing" >&2; exit 1; }
