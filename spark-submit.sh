#!/usr/bin/env bash
# Launch the Genesys ETL on a Spark 4 cluster (or locally) with spark-submit.
#
#   ./spark-submit.sh [--dry-run | --package | --help] [--] APP_ARGS...
#
# APP_ARGS go to app/main.py unchanged, e.g. `./spark-submit.sh run`.
# Environment:
#   SPARK_HOME         Spark 4 installation (required; the image sets /opt/spark)
#   SPARK_MASTER       --master value (default local[2])
#   SPARK_DRIVER_MEMORY  --driver-memory value (default 2g)
#   PYSPARK_PYTHON     Python for driver and executors (default: the checkout's .venv if any,
#                      else python3)
#   GENESYS_ETL_JARS   folder of extra jars for --jars (the connector; the image needs none)
#   GENESYS_ETL_DIST   where the --py-files zip is built (default ./dist next to this script)
# Secrets (Genesys client secret, MongoDB credentials) never go on this command line: the app
# reads them from its environment or secret files.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIST="${GENESYS_ETL_DIST:-$ROOT/dist}"
ZIP="$DIST/genesys_etl.zip"
PACKAGES=(app connectors jobs)

usage() { sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
fail() { printf 'spark-submit.sh: %s\n' "$*" >&2; exit 2; }

# In the container image Spark-on-Kubernetes starts driver and executor pods with the image's
# entrypoint and the argument "driver" or "executor"; hand those to the base image's script.
if [[ "${1:-}" == "driver" || "${1:-}" == "executor" ]] && [[ -x /opt/entrypoint.sh ]]; then
  exec /opt/entrypoint.sh "$@"
fi

dry_run=false
package_only=false
while (($# > 0)); do
  case "$1" in
    --dry-run) dry_run=true; shift ;;
    --package) package_only=true; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;;  # the first other word starts the app's arguments
  esac
done

# The zip of our packages for --py-files (sources and any data files in them, no bytecode),
# rebuilt when missing or older than any file in those packages.
zip_is_stale() {
  [[ ! -f "$ZIP" ]] && return 0
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    [[ -n "$(find "$ROOT/$pkg" -type f -newer "$ZIP" ! -path '*/__pycache__/*' -print -quit)" ]] \
      && return 0
  done
  return 1
}

build_zip() {
  mkdir -p "$DIST"
  local tmp="$ZIP.tmp.$$"
  # Python's zipfile, since the `zip` tool is often missing from Spark images.
  python3 - "$ROOT" "$tmp" "${PACKAGES[@]}" <<'EOF'
import pathlib, sys, zipfile
root, target, packages = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
    for package in packages:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                archive.write(path, path.relative_to(root).as_posix())
EOF
  mv "$tmp" "$ZIP"
}

if $package_only; then
  build_zip
  echo "$ZIP"
  exit 0
fi

[[ -n "${SPARK_HOME:-}" ]] || fail "SPARK_HOME is not set (point it at a Spark 4 installation)"
submit="$SPARK_HOME/bin/spark-submit"

if [[ -n "${PYSPARK_PYTHON:-}" ]]; then
  python_bin="$PYSPARK_PYTHON"
elif [[ -x "$ROOT/.venv/bin/python" ]]; then
  python_bin="$ROOT/.venv/bin/python"
else
  python_bin="python3"
fi

cmd=(
  "$submit"
  --master "${SPARK_MASTER:-local[2]}"
  --name genesys-etl
  # Spark's 1 GiB default is tight for the curate plans; 2 GiB is what the bench measured enough
  # at 1,000 seats (docs/benchmarks.md). A larger center or replay batch may need more.
  --driver-memory "${SPARK_DRIVER_MEMORY:-2g}"
  --conf spark.sql.session.timeZone=UTC
  --conf spark.scheduler.mode=FAIR
  --conf "spark.pyspark.python=$python_bin"
  # The JVMs' own zone too, so nothing falls back to the host's local time.
  # And our log4j2 file: warnings only, so the app's one-line-per-batch INFO logs stand out.
  --conf "spark.driver.extraJavaOptions=-Duser.timezone=UTC -Dlog4j2.configurationFile=$ROOT/conf/log4j2.properties"
  --conf spark.executor.extraJavaOptions=-Duser.timezone=UTC
  --py-files "$ZIP"
)
if [[ -n "${GENESYS_ETL_JARS:-}" ]]; then
  jar_list=("$GENESYS_ETL_JARS"/*.jar)
  [[ -e "${jar_list[0]}" ]] || fail "GENESYS_ETL_JARS=$GENESYS_ETL_JARS holds no .jar files"
  cmd+=(--jars "$(IFS=,; echo "${jar_list[*]}")")
fi
cmd+=("$ROOT/app/main.py" "$@")

if $dry_run; then
  printf '%s\n' "${cmd[@]}"
  exit 0
fi

[[ -x "$submit" ]] || fail "$submit not found or not executable"
[[ -f "$ROOT/app/main.py" ]] || fail "$ROOT/app/main.py is missing"
if zip_is_stale; then
  build_zip
fi
exec "${cmd[@]}"
