#!/usr/bin/env bash
# The whole test suite, with the real services its end-to-end tests use, set up on the spot (`make test` runs this).
#
# Where it can (root with apt-get, as on CI), it installs Debian's chromium for the browser-login test and starts a
# private PostgreSQL server on 127.0.0.1 for the warehouse test; elsewhere those two tests skip with the reason.
# CREATORSOCIAL_REQUIRE_POSTGRES=1 (set by .ci/run) turns a missing PostgreSQL server into a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

can_install() { [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; }

if ! command -v chromium >/dev/null 2>&1 && can_install; then
  echo "test.sh: installing Debian's chromium for the browser-login test" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || echo "test.sh: chromium could not be installed; the browser-login test will skip" >&2
fi

if [[ -z "${TARGET_POSTGRES_HOST:-}" ]]; then
  if pg_env=$(bash scripts/postgres.sh start); then
    eval "$pg_env"
    trap 'bash scripts/postgres.sh stop' EXIT
  else
    echo "test.sh: no PostgreSQL server; the PostgreSQL warehouse test will skip" >&2
  fi
fi

.venv/bin/python -m pytest "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "pytest collected no tests (exit 5): nothing ran"
  rc=0
fi
exit $rc
