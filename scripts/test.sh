#!/usr/bin/env bash
# The whole test suite, as CI runs it: set up ./.venv (dev extra), start the services the
# PostgreSQL and browser tests need (scripts/ci-services.sh: PostgreSQL on loopback, Debian
# chromium), then the static checks (ruff, import-linter layer contracts, mypy) and pytest.
# Outside CI a service that cannot start makes its tests skip, and the run's last lines say
# which tests skipped and why (tests/conftest.py); under CI=true .ci/run refuses to go on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
if [ -z "${BRAINMETS_TEST_PG_URL:-}" ] || [ -z "${BRAINMETS_CHROMIUM:-}" ]; then
  # shellcheck disable=SC1091
  source scripts/ci-services.sh
fi
echo "== ruff" >&2
.venv/bin/ruff check src tests bench
echo "== import-linter (layers)" >&2
.venv/bin/lint-imports --no-cache
echo "== mypy (src)" >&2
.venv/bin/mypy
echo "== knowledge mutation sample" >&2
# change a seeded sample of clinical numbers one at a time: the tests must catch every one
# (the full run: python scripts/mutate_knowledge.py; a new seed each day)
.venv/bin/python scripts/mutate_knowledge.py --sample "${BRAINMETS_MUTATION_SAMPLE:-12}" \
  --seed "${BRAINMETS_MUTATION_SEED:-$(date +%Y%j)}" --no-baseline
echo "== pytest" >&2
# a hung test fails after 15 min instead of stalling the run
# coverage is reported per module (missing lines); the last lines count the PostgreSQL and
# browser tests that ran or were skipped (tests/conftest.py)
exec .venv/bin/python -m pytest -q -n "${BRAINMETS_TEST_WORKERS:-2}" --dist loadfile \
  --timeout "${BRAINMETS_TEST_TIMEOUT:-900}" --cov --cov-report=term "$@"
