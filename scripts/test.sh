#!/usr/bin/env bash
# Run the test suite from a checkout: setup first (fast when done), then pytest in the venv.
# Arguments go to pytest as they are; without arguments, PYTEST_ARGS (split on spaces) is used.
#   scripts/test.sh tests/unit -k packaging
#   make test ARGS="tests/unit -x"
#   PYTEST_ARGS="-m integration" scripts/test.sh
# The integration fixtures start their own MongoDB-wire server (see scripts/localmongo.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

PY="$ROOT/.venv/bin/python"
# Spark's Python workers must run the venv's interpreter (pyarrow, pandas live there).
export PYSPARK_PYTHON="$PY"
export PYSPARK_DRIVER_PYTHON="$PY"
# Where setup.sh put the MongoDB Spark Connector; app/session.py reads this.
export GENESYS_ETL_JARS="${GENESYS_ETL_JARS:-${GENESYS_ETL_CACHE:-$HOME/.cache/genesys-etl}/jars}"

if (($# > 0)); then
  args=("$@")
else
  read -r -a args <<<"${PYTEST_ARGS:-}"
fi

echo "test: $PY -m pytest ${args[*]}"
rc=0
"$PY" -m pytest "${args[@]}" || rc=$?
if ((rc == 5)); then
  # pytest's "no tests collected": a wrong path or -k filter, not a success.
  echo "test: ERROR: pytest collected no tests (exit 5); check the paths and filters" >&2
fi
exit "$rc"
