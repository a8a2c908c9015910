"""Run the real pipeline (both streaming queries) as a bounded run, for integration tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pyspark.sql import SparkSession

from app.config import AppConfig, load_config
from app.pipeline import prepare_stores, run_until_done, start_capture, start_curate
from connectors.genesys.windows import format_instant
from connectors.sources import register_data_sources


@dataclass(frozen=True)
class PipelineRun:
    """Where one bounded run reads from and writes to."""

    api_url: str
    client_id: str
    secret_file: Path
    mongo_uri: str
    raw_database: str
    dwh_database: str
    start: datetime
    end: datetime
    checkpoints: Path
    trigger_seconds: int = 2
    overlap_seconds: int = 60
    # More settings, such as the privacy policy (PRIVACY_*), as environment variables.
    extra_env: Mapping[str, str] = field(default_factory=dict)


def config_for(run: PipelineRun) -> AppConfig:
    """The application config of a run, built the production way (file + environment)."""
    env = {
        "GENESYS_API_BASE_URL": run.api_url,
        "GENESYS_CLIENT_ID": run.client_id,
        "GENESYS_CLIENT_SECRET_FILE": str(run.secret_file),
        "MONGO_URI": run.mongo_uri,
        "MONGO_RAW_DATABASE": run.raw_database,
        "MONGO_DWH_DATABASE": run.dwh_database,
        "CAPTURE_START": format_instant(run.start),
        "CAPTURE_END": format_instant(run.end),
        "CAPTURE_TRIGGER_SECONDS": str(run.trigger_seconds),
        "CAPTURE_LOOKBACK_SECONDS": str(run.trigger_seconds + run.overlap_seconds),
        "CURATE_TRIGGER_SECONDS": "1",
        "GENESYS_ETL_CHECKPOINTS": str(run.checkpoints),
        **run.extra_env,
    }
    return load_config(env=env)


def run_bounded(spark: SparkSession, run: PipelineRun) -> int:
    """Run capture and curate until the end of the range is curated; return the exit code."""
    register_data_sources(spark)
    config = config_for(run)
    prepare_stores(config)
    capture = start_capture(spark, config, str(run.secret_file))
    curate = start_curate(spark, config)
    try:
        return run_until_done(config, capture, curate)
    finally:
        for query in (capture, curate):
            if query.isActive:
                query.stop()
