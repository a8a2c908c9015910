"""The Spark side of a scenario, run in its own process so that its memory can be sampled and
its master (local[1], local[2]) chosen: `python -m bench.child {stream,replay} OUT_JSON`.

The application's settings come from the environment, exactly as for `python -m app.main run`.
`stream` runs both queries as a bounded run; `replay` runs the curate query alone from a fresh
checkpoint until it has curated the newest landing. Each writes the queries' progress reports
(Spark's own per-batch durations) and wall times to OUT_JSON.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from app.config import AppConfig, load_config
from app.pipeline import prepare_stores, run_until_done, start_capture, start_curate
from app.session import build_session
from bench import configure_logging
from bench.spark_profile import spark_profile
from connectors.mongo.dwh_store import DwhStore
from connectors.mongo.raw_store import RawStore

log = logging.getLogger("bench.child")

POLL_SECONDS = 0.5
# Spark keeps the last 100 progress reports by default; a long run needs every batch.
RECENT_PROGRESS_REPORTS = "2000"
PROGRESS_WAIT_SECONDS = 30.0


def batch_reports(query: StreamingQuery) -> list[dict[str, Any]]:
    """The progress reports of batches that did work (idle triggers report no addBatch)."""
    return [
        {
            "batch_id": progress["batchId"],
            "timestamp": progress["timestamp"],
            "input_rows": progress["numInputRows"],
            "duration_ms": dict(progress["durationMs"]),
            "end_offset": progress["sources"][0]["endOffset"] if progress["sources"] else None,
        }
        for progress in query.recentProgress
        if "addBatch" in progress["durationMs"]
    ]


def _session(config: AppConfig) -> SparkSession:
    spark = build_session("genesys-etl-bench", config.spark_master, config.shuffle_partitions)
    spark.conf.set("spark.sql.streaming.numRecentProgressUpdates", RECENT_PROGRESS_REPORTS)
    return spark


def run_stream(config: AppConfig) -> dict[str, Any]:
    """Both queries as a bounded run (CAPTURE_END set), like `app.main run`."""
    prepare_stores(config)
    spark = _session(config)
    began = time.monotonic()
    capture = start_capture(spark, config, os.environ.get("GENESYS_CLIENT_SECRET_FILE"))
    curate = start_curate(spark, config)
    try:
        code = run_until_done(config, capture, curate)
    finally:
        for query in (capture, curate):
            if query.isActive:
                query.stop()
    result = {
        "exit_code": code,
        "wall_s": round(time.monotonic() - began, 2),
        "capture": batch_reports(capture),
        "curate": batch_reports(curate),
        "spark_version": spark.version,
        "profile": spark_profile(spark),
    }
    spark.stop()
    return result


def run_replay(config: AppConfig) -> dict[str, Any]:
    """The curate query alone from a fresh checkpoint, until the newest landing is curated."""
    prepare_stores(config)
    raw = RawStore(config.mongo.raw_uri.reveal(), config.mongo.raw_database)
    dwh = DwhStore(config.mongo.dwh_uri.reveal(), config.mongo.dwh_database)
    latest = raw.latest_landing()
    if latest is None:
        raise SystemExit("bench replay: the raw layer has no completed landing to replay")
    spark = _session(config)
    began = time.monotonic()
    curate = start_curate(spark, config)
    try:
        while not dwh.curated_through(latest[0]):
            if not curate.isActive:
                raise RuntimeError(f"curate query stopped: {curate.exception()}")
            time.sleep(POLL_SECONDS)
        wall = time.monotonic() - began
        # The DWH says "curated" before Spark posts the batch's progress report: wait for it.
        deadline = time.monotonic() + PROGRESS_WAIT_SECONDS
        while not batch_reports(curate) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    finally:
        curate.stop()
        raw.close()
        dwh.close()
    result = {
        "exit_code": 0,
        "wall_s": round(wall, 2),
        "curate": batch_reports(curate),
        "spark_version": spark.version,
        "master": config.spark_master,
        "profile": spark_profile(spark),
    }
    spark.stop()
    return result


def main() -> int:
    """Entry point: run the scenario named by argv[1] and write its JSON to argv[2]."""
    configure_logging()
    scenario, out = sys.argv[1], Path(sys.argv[2])
    if scenario == "stream":
        result = run_stream(load_config())
    elif scenario == "replay":
        result = run_replay(load_config(require_api=False))
    else:
        raise SystemExit(f"bench child: unknown scenario {scenario!r}; use stream or replay")
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return int(result["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
