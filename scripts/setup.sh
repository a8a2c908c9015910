#!/usr/bin/env bash
# Prepare a checkout for tests and the demo. Idempotent and quick when nothing changed:
#   1. .venv with the runtime + test dependencies from pyproject.toml (reinstalled on change)
#   2. the MongoDB Spark Connector jars in the per-user cache (shared by every clone)
#   3. the FerretDB server binary in the same cache, only when this machine will need it
# Environment: GENESYS_ETL_CACHE (default ~/.cache/genesys-etl), PYTHON (default python3),
# MONGO_URI (an existing server: skips the FerretDB build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GENESYS_ETL_CACHE:-$HOME/.cache/genesys-etl}"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

step() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

cd "$ROOT"
mkdir -p "$ROOT/.run" "$CACHE"

# Two runs at once (an editor's test run and a terminal's) must not pip-install into the same
# venv concurrently; the lock is per checkout, the cache steps below are safe on their own.
exec 9>"$ROOT/.run/setup.lock"
flock 9

# 1a. The virtualenv. Python 3.11 or 3.12, as pyproject's requires-python says.
if [[ -x "$PY" ]]; then
  step "venv: present ($("$PY" --version 2>&1))"
else
  base_python="${PYTHON:-python3}"
  command -v "$base_python" >/dev/null \
    || fail "$base_python not found; set PYTHON=/path/to/python3.11"
  "$base_python" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' \
    || fail "$("$base_python" --version 2>&1) is not 3.11/3.12; set PYTHON=/path/to/python3.11"
  "$base_python" -m venv "$VENV"
  step "venv: created with $("$PY" --version 2>&1)"
fi

# 1b. Dependencies. We install the requirement lists themselves rather than the project
# (pyproject declares no packages; the code runs from the checkout), and only when those lists
# changed since the last successful install: their hash is the stamp, so edits to other
# pyproject sections (ruff, pytest) cost nothing.
reqs="$ROOT/.run/requirements.txt"
"$PY" - "$ROOT/pyproject.toml" >"$reqs" <<'EOF'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
EOF
stamp="$VENV/.genesys-etl-deps.sha256"
want="$(sha256sum "$reqs" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  step "python deps: up to date"
else
  step "python deps: installing $(wc -l <"$reqs") requirements (first time takes minutes)"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-input -r "$reqs" \
    || fail "pip install failed"
  echo "$want" >"$stamp"
  step "python deps: installed"
fi

# 2. Connector jars. Resolved into a scratch folder and swapped in whole, so a failed or
# concurrent download never leaves a half-filled jar folder; the pom's hash says when to redo.
jars="$CACHE/jars"
jar_stamp="$jars/.pom.sha256"
want_pom="$(sha256sum scripts/connector/pom.xml | cut -d' ' -f1)"
if compgen -G "$jars/mongo-spark-connector_*.jar" >/dev/null \
  && [[ ! -f "$jar_stamp" || "$(cat "$jar_stamp")" == "$want_pom" ]]; then
  # A jar folder without a stamp predates it (or was filled by hand): trust it.
  step "connector jars: present in $jars"
else
  command -v mvn >/dev/null || fail "mvn not found: install Maven 3.8+ or fill $jars by hand"
  scratch="$(mktemp -d "$CACHE/.jars.XXXXXX")"
  step "connector jars: resolving with Maven"
  if ! mvn -q -B -Dstyle.color=never -f scripts/connector/pom.xml \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$scratch" \
    >"$ROOT/.run/mvn.log" 2>&1; then
    rm -rf "$scratch"
    fail "Maven could not resolve the connector; see $ROOT/.run/mvn.log"
  fi
  echo "$want_pom" >"$scratch/.pom.sha256"
  chmod 755 "$scratch"  # mktemp made it private; the cache is meant to be shared
  rm -rf "$jars.old"
  [[ -d "$jars" ]] && mv "$jars" "$jars.old"
  mv "$scratch" "$jars"
  rm -rf "$jars.old"
  step "connector jars: $(find "$jars" -name '*.jar' | wc -l) jars in $jars"
fi

# 3. FerretDB, the fallback MongoDB-wire server. Not needed when MONGO_URI names a server or
# mongod is installed; scripts/localmongo.py builds it lazily anyway, this just does it up front.
if [[ -n "${MONGO_URI:-}" ]]; then
  step "mongodb: MONGO_URI is set, no local server needed"
elif command -v mongod >/dev/null; then
  step "mongodb: mongod found at $(command -v mongod)"
else
  msg="$(GENESYS_ETL_CACHE="$CACHE" "$PY" -m scripts.localmongo prepare 2>&1)" || fail "$msg"
  step "mongodb: ${msg##*$'\n'}"
fi

step "done"
