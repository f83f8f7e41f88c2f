#!/usr/bin/env bash
# Set up the dev environment (./.venv) and run the whole test suite with ruff first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check src tests bench
# a hung test fails after 15 min instead of stalling the run
exec .venv/bin/python -m pytest -q -n "${BRAINMETS_TEST_WORKERS:-2}" --dist loadfile \
  --timeout "${BRAINMETS_TEST_TIMEOUT:-900}" "$@"
