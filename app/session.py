"""Build the SparkSession: UTC everywhere, the MongoDB connector jars, our Python data sources."""

from __future__ import annotations

import glob
import os
import sys

from pyspark.sql import SparkSession

# Where `scripts/setup.sh` puts the MongoDB Spark Connector and its driver jars; the image
# bakes them into $SPARK_HOME/jars instead, where Spark finds them without help.
DEFAULT_JAR_DIR = os.path.join(
    os.environ.get("GENESYS_ETL_CACHE", os.path.expanduser("~/.cache/genesys-etl")), "jars"
)


def connector_jars(jar_dir: str | None = None) -> list[str]:
    """Return the connector jar paths found in `jar_dir` (GENESYS_ETL_JARS or the cache)."""
    folder = jar_dir or os.environ.get("GENESYS_ETL_JARS") or DEFAULT_JAR_DIR
    return sorted(glob.glob(os.path.join(folder, "*.jar")))


def _base_builder(app_name: str, master: str | None) -> SparkSession.Builder:
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    jars = connector_jars()
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    # Every instant is stored and computed in UTC, whatever the host's zone.
    return (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.pyspark.python", os.environ.get("PYSPARK_PYTHON", sys.executable))
    )


def build_session(app_name: str, master: str | None, shuffle_partitions: int) -> SparkSession:
    """Create the application's session and register the project's Python data sources.

    Data sources must be registered in every new session, including after a restart: the
    checkpoint keeps the offsets, not the reader objects.
    """
    from connectors.sources import register_data_sources

    session = (
        _base_builder(app_name, master)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.scheduler.mode", "FAIR")
        .config("spark.sql.streaming.stopGracefullyOnShutdown", "true")
        .getOrCreate()
    )
    register_data_sources(session)
    return session


def build_local_test_session() -> SparkSession:
    """A small local session for tests: two cores, few shuffle partitions, no UI."""
    return (
        _base_builder("genesys-etl-tests", "local[2]")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate()
    )
