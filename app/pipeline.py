"""Wiring of the two streaming queries: capture (API -> raw) and curate (raw -> DWH).

Both run in one application, each with its own checkpoint and FAIR scheduler pool. Unbounded,
the driver waits until a query stops and exits non-zero so that the orchestrator restarts it
from the checkpoints. Bounded (CAPTURE_END set), it stops both once the end is captured and
curated, and exits 0.
"""

from __future__ import annotations

import ast
import json
import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from types import FrameType
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from app.config import AppConfig
from connectors.genesys.budget import BudgetTarget
from connectors.genesys.windows import format_instant
from connectors.mongo.dwh_store import DwhStore
from connectors.mongo.raw_store import RawStore
from jobs.capture import RawTarget, land_raw_batch
from jobs.curate import DwhTarget, curate_raw_batch
from jobs.watchlist import WatchSettings

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def capture_options(config: AppConfig) -> dict[str, str]:
    """Options of the `genesys` source; the client secret is read from env or file, not here."""
    genesys, capture = config.genesys, config.capture
    options = {
        "api_base_url": genesys.api_base_url,
        "login_base_url": genesys.login_base_url,
        "client_id": genesys.client_id,
        "page_size": str(genesys.page_size),
        "max_results": str(genesys.max_results),
        "max_retries": str(genesys.max_retries),
        "trigger_seconds": str(capture.trigger_seconds),
        "lookback_seconds": str(capture.lookback_seconds),
        "max_batch_seconds": str(capture.max_batch_seconds),
        "dimension_refresh_seconds": str(capture.dimension_refresh_seconds),
        "sweep_seconds": str(capture.sweep_seconds),
        "sweep_horizon_seconds": str(capture.sweep_horizon_seconds),
        "sweep_days": str(capture.sweep_days),
        "requests_per_minute": str(genesys.requests_per_minute),
        # The shared request budget lives beside the raw layer; its URI comes from the env.
        "budget_database": config.mongo.raw_database,
        "checkpoint_location": capture.checkpoint_dir,
    }
    if capture.start:
        options["start"] = format_instant(capture.start)
    if capture.end:
        options["end"] = format_instant(capture.end)
    return options


def start_capture(
    spark: SparkSession, config: AppConfig, secret_file: str | None
) -> StreamingQuery:
    """Start query 1: poll the API each trigger and land payloads in the raw layer."""
    options = capture_options(config)
    if secret_file:
        options["client_secret_file"] = secret_file
    target = RawTarget(config.mongo.raw_uri.reveal(), config.mongo.raw_database)
    watch = None
    if config.capture.watchlist_max_per_batch:
        watch = WatchSettings(
            config.genesys,
            settle=timedelta(seconds=config.capture.settle_seconds),
            max_per_batch=config.capture.watchlist_max_per_batch,
            budget=BudgetTarget(
                config.mongo.raw_uri,
                config.mongo.raw_database,
                config.genesys.requests_per_minute,
            ),
        )
    spark.sparkContext.setLocalProperty("spark.scheduler.pool", "capture")
    query = (
        spark.readStream.format("genesys")
        .options(**options)
        .load()
        .writeStream.queryName("capture")
        .foreachBatch(partial(land_raw_batch, target, watch))
        .option("checkpointLocation", config.capture.checkpoint_dir)
        .trigger(processingTime=f"{config.capture.trigger_seconds} seconds")
        .start()
    )
    spark.sparkContext.setLocalProperty("spark.scheduler.pool", None)
    return query


def curate_target(config: AppConfig) -> DwhTarget:
    """What the curate batches need: the DWH and the privacy policy (key included, masked)."""
    return DwhTarget(config.mongo.dwh_uri.reveal(), config.mongo.dwh_database, config.privacy)


def start_curate(spark: SparkSession, config: AppConfig) -> StreamingQuery:
    """Start query 2: curate each completed raw batch into the star schema."""
    mongo = config.mongo
    spark.sparkContext.setLocalProperty("spark.scheduler.pool", "curate")
    query = (
        spark.readStream.format("genesys_raw")
        .option("connection.uri", mongo.raw_uri.reveal())
        .option("database", mongo.raw_database)
        .load()
        .writeStream.queryName("curate")
        .foreachBatch(partial(curate_raw_batch, curate_target(config)))
        .option("checkpointLocation", config.curate.checkpoint_dir)
        .trigger(processingTime=f"{config.curate.trigger_seconds} seconds")
        .start()
    )
    spark.sparkContext.setLocalProperty("spark.scheduler.pool", None)
    return query


def prepare_stores(config: AppConfig) -> None:
    """Create indexes (retention TTL included) and fixed members in both layers before any
    query starts."""
    raw = RawStore(config.mongo.raw_uri.reveal(), config.mongo.raw_database)
    try:
        raw.ensure_indexes()
        refused = raw.ensure_retention(config.retention.raw_days)
    finally:
        raw.close()
    if refused:
        log.warning(
            "raw retention of %d days: the MongoDB server refused a TTL index on %s; schedule "
            "`python -m app.main purge-raw --older-than-days %d` (e.g. daily) instead",
            config.retention.raw_days,
            ", ".join(refused),
            config.retention.raw_days,
        )
    dwh = DwhStore(config.mongo.dwh_uri.reveal(), config.mongo.dwh_database)
    try:
        dwh.ensure_schema()
    finally:
        dwh.close()


@dataclass
class StopRequest:
    """Set by SIGTERM/SIGINT: finish the running batches, stop both queries, exit cleanly."""

    requested: bool = False
    previous: dict[int, Any] = field(default_factory=dict)

    def install(self) -> None:
        """Route SIGTERM and SIGINT here (Kubernetes sends SIGTERM before killing the pod)."""

        def handle(signum: int, _frame: FrameType | None) -> None:
            log.warning("signal %d received: stopping after the running batches", signum)
            self.requested = True

        self.previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def uninstall(self) -> None:
        """Give the signals back to whoever handled them before (tests, embedding code)."""
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _raise_if_failed(queries: list[StreamingQuery]) -> None:
    for query in queries:
        if not query.isActive:
            raise RuntimeError(f"streaming query {query.name} stopped: {query.exception()}")


def source_offset(query: StreamingQuery) -> dict[str, Any]:
    """The end offset of the query's last progress report, as a dict ({} before the first).

    PySpark reports a Python data source's offset as the text of a Python dict, other sources
    as JSON; both are read here.
    """
    progress = query.lastProgress
    if not progress or not progress["sources"]:
        return {}
    offset = progress["sources"][0]["endOffset"]
    if isinstance(offset, str):
        try:
            offset = json.loads(offset)
        except ValueError:
            offset = ast.literal_eval(offset)
    return offset if isinstance(offset, dict) else {}


def run_until_done(config: AppConfig, capture: StreamingQuery, curate: StreamingQuery) -> int:
    """Wait for the queries; return the process exit code.

    A bounded run is done when this run's capture query has committed the end of the range and
    the curate query has curated the landing that batch made, so a second run over the same
    range does the work again instead of trusting markers left by the first.
    """
    stop = StopRequest()
    stop.install()
    end_key = format_instant(config.capture.end) if config.capture.end else None
    raw = RawStore(config.mongo.raw_uri.reveal(), config.mongo.raw_database)
    dwh = DwhStore(config.mongo.dwh_uri.reveal(), config.mongo.dwh_database)
    running = [capture, curate]
    final_landing: int | None = None
    try:
        while not stop.requested:
            _raise_if_failed(running)
            captured = final_landing is None and source_offset(capture).get("until") == end_key
            if end_key is not None and captured:
                log.info("bounded run: %s captured, stopping the capture query", end_key)
                running.remove(capture)
                capture.stop()
                final_landing = raw.landing_of(end_key)
            if final_landing is not None and dwh.curated_through(final_landing):
                log.info("bounded run: %s curated, stopping the curate query", end_key)
                curate.stop()
                return 0
            time.sleep(POLL_SECONDS)
    finally:
        stop.uninstall()
        raw.close()
        dwh.close()
    for query in (capture, curate):
        query.stop()
    log.info("stopped cleanly on request")
    return 0
