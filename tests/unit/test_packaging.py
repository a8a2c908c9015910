"""Packaging checks that need no Docker engine and no Spark cluster.

They run `spark-submit.sh` in dry-run and package modes and read the Dockerfile and the
connector pom as text.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "spark-submit.sh"
DOCKERFILE = ROOT / "Dockerfile"
POM = ROOT / "scripts" / "connector" / "pom.xml"


def _launcher_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A controlled environment: fake SPARK_HOME, fixed Python, no jars, zip in tmp_path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"GENESYS_ETL_JARS", "SPARK_MASTER", "PYSPARK_PYTHON"}
    }
    env.update(
        SPARK_HOME=str(tmp_path / "spark"),
        PYSPARK_PYTHON="/usr/bin/python3",
        GENESYS_ETL_DIST=str(tmp_path / "dist"),
    )
    env.update(extra)
    return env


def _run_launcher(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(LAUNCHER), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_launcher_dry_run_prints_command_in_order(tmp_path: Path) -> None:
    done = _run_launcher(["--dry-run", "run", "--foo"], _launcher_env(tmp_path))

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{tmp_path}/spark/bin/spark-submit",
        "--master",
        "local[2]",
        "--name",
        "genesys-etl",
        "--driver-memory",
        "2g",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "--conf",
        "spark.scheduler.mode=FAIR",
        "--conf",
        "spark.pyspark.python=/usr/bin/python3",
        "--conf",
        "spark.driver.extraJavaOptions=-Duser.timezone=UTC "
        f"-Dlog4j2.configurationFile={ROOT}/conf/log4j2.properties",
        "--conf",
        "spark.executor.extraJavaOptions=-Duser.timezone=UTC",
        "--py-files",
        f"{tmp_path}/dist/genesys_etl.zip",
        f"{ROOT}/app/main.py",
        "run",
        "--foo",
    ]


def test_launcher_dry_run_with_jar_dir_adds_sorted_jars(tmp_path: Path) -> None:
    jars = tmp_path / "jars"
    jars.mkdir()
    for name in ("b-driver.jar", "a-connector.jar", "notes.txt"):
        (jars / name).write_text("x")
    env = _launcher_env(tmp_path, GENESYS_ETL_JARS=str(jars), SPARK_MASTER="spark://m:7077")

    lines = _run_launcher(["--dry-run", "--", "run"], env).stdout.splitlines()

    assert lines[lines.index("--master") + 1] == "spark://m:7077"
    assert lines[lines.index("--jars") + 1] == f"{jars}/a-connector.jar,{jars}/b-driver.jar"
    assert lines[-2:] == [f"{ROOT}/app/main.py", "run"]


def test_launcher_without_spark_home_fails_with_message(tmp_path: Path) -> None:
    env = _launcher_env(tmp_path)
    del env["SPARK_HOME"]

    done = _run_launcher(["--dry-run", "run"], env)

    assert done.returncode == 2
    assert "SPARK_HOME is not set" in done.stderr


def test_launcher_package_zip_holds_packages_and_no_tests(tmp_path: Path) -> None:
    done = _run_launcher(["--package"], _launcher_env(tmp_path))
    assert done.returncode == 0, done.stderr
    zip_path = tmp_path / "dist" / "genesys_etl.zip"
    assert done.stdout.strip() == str(zip_path)

    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()

    assert {"app/__init__.py", "connectors/__init__.py", "jobs/__init__.py"} <= set(names)
    assert {name.split("/")[0] for name in names} == {"app", "connectors", "jobs"}
    assert [n for n in names if "__pycache__" in n or n.endswith(".pyc")] == []
    assert [n for n in names if n.startswith(("tests/", ".venv/"))] == []


def test_dockerfile_copies_connector_jars_into_spark_jars() -> None:
    text = DOCKERFILE.read_text()

    assert re.search(r"^COPY --from=jars \S+\.jar /opt/spark/jars/$", text, re.MULTILINE)
    assert "COPY scripts/connector/pom.xml" in text


def test_dockerfile_runs_as_non_root_user() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE.read_text(), re.MULTILINE)

    assert users[-1] == "spark"


def test_dockerfile_bases_are_spark4_and_temurin17() -> None:
    text = DOCKERFILE.read_text()
    default_image = re.search(r"^ARG SPARK_IMAGE=(\S+)$", text, re.MULTILINE)
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)

    assert froms == ["maven:3.9-eclipse-temurin-17", "${SPARK_IMAGE}"]
    assert default_image is not None
    assert re.fullmatch(
        r"apache/spark:4\.\d+\.\d+-scala2\.13-java17-python3-ubuntu", default_image[1]
    )


def test_dockerfile_installs_runtime_deps_without_pyspark_or_test_extras() -> None:
    """The sed line in the Dockerfile must yield pyproject's runtime deps minus pyspark."""
    text = DOCKERFILE.read_text()
    match = re.search(r"(sed -n '[^']+') /tmp/pyproject\.toml", text)
    assert match is not None
    extract = f"{match[1]} pyproject.toml | grep -v '^pyspark'"
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]

    out = subprocess.run(
        ["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()

    assert out == [d for d in deps if not d.startswith("pyspark")]
    assert "pytest" not in text


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("<artifactId>mongo-spark-connector_2.13</artifactId>", 1),
        ("<mongo.spark.connector.version>10.5.0</mongo.spark.connector.version>", 1),
    ],
)
def test_connector_pom_names_scala_213_connector(tag: str, expected: int) -> None:
    assert POM.read_text().count(tag) == expected
