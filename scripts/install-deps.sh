#!/usr/bin/env bash
# Installs the system packages the integration tests, benchmarks and demo run against:
# etcd 3.4, Patroni 3.0.2, PostgreSQL 15, HAProxy (the baseline), psycopg2 (a client) and
# Chromium (the stats page test drives Debian's /usr/bin/chromium; no browser is downloaded).
# Idempotent: when everything is present it changes nothing. Debian/Ubuntu only (apt-get).
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
PACKAGES=(etcd-server etcd-client patroni postgresql-15 postgresql-client-15 haproxy python3-psycopg2 chromium)

missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$1"); }
need_cmd etcd
need_cmd etcdctl
need_cmd patroni
need_cmd patronictl
need_cmd pgbench
need_cmd psql
need_cmd haproxy
need_cmd chromium
[ -x "$PG_BIN/postgres" ] || missing+=("$PG_BIN/postgres")
# Patroni and our client scripts use the system interpreter; a pyenv/venv python3 on PATH
# would not see the Debian module.
/usr/bin/python3 -c 'import psycopg2' >/dev/null 2>&1 || missing+=("psycopg2 for /usr/bin/python3")

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all system dependencies present"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: not root; install them with:" >&2
  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${PACKAGES[*]}" >&2
  exit 1
fi

# Debian's postgresql package creates (and may start) a default "main" cluster on 5432. The
# harness never uses it, but a CI box does not need it either: ask postgresql-common not to.
if [ ! -x "$PG_BIN/postgres" ]; then
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/pgrouter-no-main.conf
fi

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y "${PACKAGES[@]}"
echo "install-deps: installed ${PACKAGES[*]}"
