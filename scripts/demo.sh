#!/usr/bin/env bash
# `make demo`: set up (fast when done), then run the embedded end-to-end demo in the venv.
# Honoured: MONGO_URI, DEMO_SECONDS, DEMO_SPEED, DEMO_START, DEMO_END, GENESYS_SIM_FIXTURES.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
export GENESYS_ETL_JARS="${GENESYS_ETL_JARS:-${GENESYS_ETL_CACHE:-$HOME/.cache/genesys-etl}/jars}"
exec "$ROOT/.venv/bin/python" -m scripts.demo
