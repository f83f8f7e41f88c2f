#!/usr/bin/env bash
# Sourced by .ci/run before the tests (also runnable on its own: `source scripts/ci-services.sh`).
# Installs (Debian packages) and starts the services the service tests need, idempotently:
#   - PostgreSQL on loopback only  -> exports BRAINMETS_TEST_PG_URL
#   - Debian chromium              -> exports BRAINMETS_CHROMIUM=/usr/bin/chromium
# Fast when everything is already installed and running. Set BRAINMETS_SKIP_SERVICES=1 to skip.
# Never aborts the sourcing shell: a service that cannot start leaves its variable unset and the
# tests that need it skip with a message.

_bm_services() {
  [ "${BRAINMETS_SKIP_SERVICES:-0}" = "1" ] && return 0
  local pg_port="${BRAINMETS_TEST_PG_PORT:-54329}"
  local pg_dir="${BRAINMETS_TEST_PG_DIR:-/tmp/brainmets-ci-pg}"
  local sudo=""
  [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"

  # 1. packages (apt-get update once, only when something is missing)
  local need=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  if [ "${#need[@]}" -gt 0 ]; then
    echo "ci-services: installing ${need[*]}" >&2
    $sudo apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${need[@]}" fonts-dejavu-core >&2 || echo "ci-services: apt-get install failed" >&2
  fi

  # optional: dciodvfy validates the exported DICOM SEG / RTSTRUCT / SR (its test skips, and
  # says so in the run's last lines, when it cannot be installed)
  if [ ! -x /usr/bin/dciodvfy ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      dicom3tools >/dev/null 2>&1 || { $sudo apt-get update -qq >&2 || true
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        dicom3tools >&2; } || echo "ci-services: dicom3tools not installed" >&2
  fi

  # 2. chromium
  if [ -x /usr/bin/chromium ]; then
    export BRAINMETS_CHROMIUM=/usr/bin/chromium
  fi

  # 3. PostgreSQL cluster owned by the postgres user, listening on 127.0.0.1 only
  local bindir
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  if [ -z "$bindir" ]; then
    echo "ci-services: PostgreSQL not available; PostgreSQL tests will skip" >&2
    return 0
  fi
  local run=()
  if [ "$(id -u)" = "0" ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$pg_dir" postgres
    run=(runuser -u postgres --)
  fi
  if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then
    if [ ! -f "$pg_dir/PG_VERSION" ]; then
      mkdir -p "$pg_dir"
      [ "$(id -u)" = "0" ] && chown postgres "$pg_dir"
      "${run[@]}" "$bindir/initdb" -D "$pg_dir" -U postgres -A trust --no-sync >/dev/null \
        || { echo "ci-services: initdb failed" >&2; return 0; }
    fi
    "${run[@]}" "$bindir/pg_ctl" -D "$pg_dir" -l "$pg_dir/server.log" -w -t 30 start \
      -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off" >/dev/null \
      || { echo "ci-services: PostgreSQL did not start (see $pg_dir/server.log)" >&2; return 0; }
  fi
  # role + database (idempotent)
  "${run[@]}" "$bindir/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='brainmets') THEN
        CREATE ROLE brainmets LOGIN CREATEDB PASSWORD 'brainmets'; END IF; END \$\$;" >/dev/null \
    || { echo "ci-services: cannot create the brainmets role" >&2; return 0; }
  if ! "${run[@]}" "$bindir/psql" -qtA -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
      -c "SELECT 1 FROM pg_database WHERE datname='brainmets_test'" | grep -q 1; then
    "${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres -O brainmets brainmets_test
  fi
  export BRAINMETS_TEST_PG_URL="postgresql+psycopg://brainmets:brainmets@127.0.0.1:${pg_port}/brainmets_test"
  echo "ci-services: PostgreSQL on 127.0.0.1:${pg_port}, chromium: ${BRAINMETS_CHROMIUM:-absent}" >&2
}
_bm_services
unset -f _bm_services
