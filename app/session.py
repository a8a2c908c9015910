"""Build the SparkSession: UTC everywhere, the MongoDB connector jars, our Python data sources."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
# Where `scripts/setup.sh` puts the MongoDB Spark Connector and its driver jars; the image
# bakes them into $SPARK_HOME/jars instead, where Spark finds them without help.
DEFAULT_JAR_DIR = os.path.join(
    os.environ.get("GENESYS_ETL_CACHE", os.path.expanduser("~/.cache/genesys-etl")), "jars"
)


def connector_jars(jar_dir: str | None = None) -> list[str]:
    """Return the connector jar paths found in `jar_dir` (GENESYS_ETL_JARS or the cache)."""
    folder = jar_dir or os.environ.get("GENESYS_ETL_JARS") or DEFAULT_JAR_DIR
    return sorted(glob.glob(os.path.join(folder, "*.jar")))


def _set_driver_jvm_options() -> None:
    """UTC and our log4j2 file for a driver JVM that PySpark itself launches.

    Under spark-submit the JVM is already running and spark-submit.sh passes the same options;
    a session builder's `spark.driver.extraJavaOptions` would come too late for this JVM.
    """
    if "PYSPARK_SUBMIT_ARGS" in os.environ or os.environ.get("SPARK_ENV_LOADED"):
        return
    options = f"-Duser.timezone=UTC -Dlog4j2.configurationFile={CONF_DIR / 'log4j2.properties'}"
    # In local mode the driver is also the executor; Spark's 1 GiB default is tight for the
    # curate plans (wide nested schemas, several joins). 2 GiB: the bench's 1,000-seat windows
    # and replay peak at 1.4 GiB of heap used with it (spark-submit.sh uses the same default).
    memory = os.environ.get("SPARK_DRIVER_MEMORY", "2g")
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f'--driver-memory {memory} --driver-java-options "{options}" pyspark-shell'
    )


def _base_builder(app_name: str, master: str | None) -> SparkSession.Builder:
    _set_driver_jvm_options()
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    jars = connector_jars()
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    # Every instant is stored and computed in UTC, whatever the host's zone.
    return (
        builder.config("spark.sql.session.timeZone", "UTC")
        # MongoDB URIs may hold a password: mask them wherever Spark prints a plan or option.
        .config("spark.redaction.string.regex", r"(?i)mongodb(\+srv)?://[^\s/]*@")
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
        .config("spark.scheduler.allocation.file", str(CONF_DIR / "fairscheduler.xml"))
        .config("spark.ui.showConsoleProgress", "false")
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
