"""Audit columns that let anyone trace a curated document back to its raw version and batch."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# Bump when a change to the transformations changes what lands in the DWH; a replay then
# shows, per document, which logic produced it.
TRANSFORM_VERSION = "2026.12.1"


def with_audit(
    frame: DataFrame,
    *,
    first_loaded_at: Column,
    raw_version: Column,
    curate_batch: Column,
    curated_at: datetime,
) -> DataFrame:
    """Add the audit columns every curated document carries.

    Args:
        frame: the curated rows.
        first_loaded_at: when the entity's first raw version was captured (stable on replay).
        raw_version: the `_id` of the raw version the row was built from.
        curate_batch: the raw batch key of the curate batch that wrote the row.
        curated_at: when this curate batch ran (the same instant for the whole batch).
    """
    return frame.select(
        "*",
        first_loaded_at.alias("etl_first_loaded_at"),
        F.lit(curated_at).cast("timestamp").alias("etl_last_updated_at"),
        curate_batch.alias("etl_batch"),
        raw_version.alias("etl_raw_version"),
        F.lit(TRANSFORM_VERSION).alias("etl_transform_version"),
    )
