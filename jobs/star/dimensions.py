"""From raw listing versions to the dimension rows: users, queues, skills, wrap-up codes,
divisions. Each dimension keys on the Genesys id (cleaned) and keeps the version last seen in a
listing; every dimension also has an "unknown" member for facts whose id is missing or unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from pyspark.sql.window import Window

from jobs import schemas
from jobs.transforms.dedup import latest_per_key, split_missing_keys
from jobs.transforms.ids import clean_id
from jobs.transforms.strings import clean_code, clean_string
from jobs.transforms.timestamps import parse_utc_instant

UNKNOWN_KEY = "unknown"
UNNAMED = "(no name)"


@dataclass(frozen=True)
class DimensionSpec:
    """How one raw listing endpoint becomes one dimension collection."""

    endpoint: str
    collection: str
    key_column: str
    schema: StructType
    columns: Callable[[], list[Column]]


def _division_ref() -> list[Column]:
    return [clean_id(F.col("e.division.id")).alias("division_id")]


def _modified() -> Column:
    return parse_utc_instant(F.col("e.dateModified")).alias("source_modified_at")


def _name() -> Column:
    return clean_string(F.col("e.name"), default=UNNAMED).alias("name")


DIMENSIONS = (
    DimensionSpec(
        "users",
        "dim_user",
        "user_id",
        schemas.USER,
        lambda: [
            _name(),
            clean_code(F.col("e.state")).alias("state"),
            (clean_code(F.col("e.state")) == "active").alias("is_active"),
            clean_string(F.col("e.title")).alias("title"),
            clean_string(F.col("e.department")).alias("department"),
            *_division_ref(),
            _modified(),
        ],
    ),
    DimensionSpec(
        "queues",
        "dim_queue",
        "queue_id",
        schemas.QUEUE,
        lambda: [
            _name(),
            clean_string(F.col("e.description")).alias("description"),
            clean_code(F.col("e.skillEvaluationMethod"), default=None).alias(
                "skill_evaluation_method"
            ),
            *_division_ref(),
            _modified(),
        ],
    ),
    DimensionSpec(
        "skills",
        "dim_skill",
        "skill_id",
        schemas.SKILL,
        lambda: [
            _name(),
            clean_code(F.col("e.state")).alias("state"),
            (clean_code(F.col("e.state")) == "active").alias("is_active"),
            _modified(),
        ],
    ),
    DimensionSpec(
        "wrapup_codes",
        "dim_wrapup_code",
        "wrapup_code_id",
        schemas.WRAPUP_CODE,
        lambda: [_name(), *_division_ref(), _modified()],
    ),
    DimensionSpec(
        "divisions",
        "dim_division",
        "division_id",
        schemas.DIVISION,
        lambda: [
            _name(),
            clean_string(F.col("e.description")).alias("description"),
            F.coalesce(F.col("e.homeDivision"), F.lit(False)).alias("is_home_division"),
        ],
    ),
)

# Wrap-up codes Genesys sets by itself; they are in no listing, so they are members from day one.
SYSTEM_WRAPUP_CODES = {
    "inin-wrap-up-timeout": "ININ-WRAP-UP-TIMEOUT (system: the agent did not wrap up in time)",
    "inin-outbound-transferred": "ININ-OUTBOUND-TRANSFERRED (system)",
}


@dataclass(frozen=True)
class DimensionFrames:
    """The rows of one dimension for a batch, and the raw versions rejected on the way."""

    spec: DimensionSpec
    rows: DataFrame
    rejected: DataFrame
    # Versions with a key (`endpoint`, `raw_id`, `entity_id`, `curate_batch`, `key`), so the
    # curate job can account for the versions each member supersedes.
    keyed: DataFrame


def build_dimension(spec: DimensionSpec, versions: DataFrame) -> DimensionFrames:
    """Parse one endpoint's raw versions and keep the version last seen per id.

    Args:
        spec: which dimension.
        versions: raw versions of that endpoint, `first_seen_at`/`last_seen_at` as timestamps.
    """
    parsed = versions.withColumn("e", schemas.parse_payload(F.col("payload"), spec.schema))
    parsed = parsed.withColumn(spec.key_column, clean_id(F.col("e.id")))
    unparsable = parsed.filter(schemas.is_malformed(F.col("e"))).withColumn(
        "reason", F.lit(f"payload is not a JSON object of a {spec.endpoint} entity")
    )
    keyed, keyless = split_missing_keys(
        parsed.filter(~schemas.is_malformed(F.col("e"))), [spec.key_column]
    )
    rejected = unparsable.unionByName(
        keyless.withColumn("reason", F.lit("id is missing or blank"))
    ).select("endpoint", "raw_id", "entity_id", "curate_batch", "reason")

    with_first = keyed.withColumn(
        "first_loaded_at",
        F.min("first_seen_at").over(Window.partitionBy(spec.key_column)),
    )
    latest = latest_per_key(
        with_first,
        [spec.key_column],
        [F.col("last_seen_at").desc_nulls_last(), F.col("raw_id").desc()],
    )
    rows = latest.select(
        F.col(spec.key_column).alias("_id"),
        spec.key_column,
        *spec.columns(),
        F.lit(False).alias("is_unknown"),
        "raw_id",
        "first_loaded_at",
        "curate_batch",
    )
    versions_keyed = keyed.select(
        "endpoint", "raw_id", "entity_id", "curate_batch", F.col(spec.key_column).alias("key")
    )
    return DimensionFrames(spec, rows, rejected, versions_keyed)
