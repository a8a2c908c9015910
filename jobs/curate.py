"""The curate job's micro-batch: raw versions in, star-schema documents out.

Dimensions are written before facts, so that a fact resolves the members that arrived in the
same batch. A raw version that cannot be curated goes to the `quarantine` collection with its
reason and a reference to its raw `_id`; nothing is dropped silently.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from app.config import PrivacySettings
from connectors.mongo.dwh_store import QUARANTINE, DwhStore, write_upserts
from connectors.mongo.raw_source import BATCH_MARKER
from jobs.star.conversations import build_conversation_facts
from jobs.star.customer_fields import with_customer_fields
from jobs.star.dimensions import DIMENSIONS, UNKNOWN_KEY, build_dimension
from jobs.transforms.audit import with_audit
from jobs.transforms.timestamps import parse_utc_instant

log = logging.getLogger(__name__)

# fact column holding a Genesys id -> the dimension collection it points to.
CALL_REFERENCES = {
    "division_id": "dim_division",
    "first_queue_id": "dim_queue",
    "last_queue_id": "dim_queue",
    "agent_id": "dim_user",
    "wrapup_code": "dim_wrapup_code",
}
SKILL_REFERENCES = {"skill_id": "dim_skill", "queue_id": "dim_queue"}
_IDS = StructType([StructField("_id", StringType(), False)])


@dataclass(frozen=True)
class DwhTarget:
    """Where the DWH lives, and what customer data may go there (the key prints as ***)."""

    uri: str = field(repr=False)
    database: str
    privacy: PrivacySettings = field(default_factory=PrivacySettings)


def _key_name(reference: str) -> str:
    # first_queue_id -> first_queue_key, wrapup_code -> wrapup_key, agent_id -> agent_key
    return reference.removesuffix("_id").removesuffix("_code") + "_key"


def resolve_references(
    facts: DataFrame, references: dict[str, str], known: dict[str, DataFrame]
) -> DataFrame:
    """Add `<name>_key` for each reference: the id when its dimension knows it, else unknown."""
    for column, collection in references.items():
        members = known[collection].select(F.col("_id").alias("_member"))
        facts = (
            facts.join(F.broadcast(members), F.col(column) == F.col("_member"), "left")
            .withColumn(
                _key_name(column),
                F.when(F.col("_member").isNotNull(), F.col(column)).otherwise(F.lit(UNKNOWN_KEY)),
            )
            .drop("_member")
        )
    return facts


def _audited(frame: DataFrame, curated_at: datetime) -> DataFrame:
    return with_audit(
        frame,
        first_loaded_at=F.col("first_loaded_at"),
        raw_version=F.col("raw_id"),
        curate_batch=F.col("curate_batch"),
        curated_at=curated_at,
    ).drop("first_loaded_at", "raw_id", "curate_batch")


def curate_raw_batch(target: DwhTarget, batch: DataFrame, batch_id: int) -> int | None:
    """Driver, `foreachBatch` of the curate query: build and upsert dimensions and facts.

    Returns the landing sequence number the DWH now holds everything of, if the batch had one.
    """
    began = time.monotonic()
    curated_at = datetime.now(UTC).replace(microsecond=0)
    versions = batch.withColumn("first_seen_at", parse_utc_instant(F.col("first_seen_at")))
    versions = versions.withColumn("last_seen_at", parse_utc_instant(F.col("last_seen_at")))
    versions = versions.persist()
    persisted = [versions]
    try:
        counts = {
            row["endpoint"]: row["n"]
            for row in versions.groupBy("endpoint").agg(F.count(F.lit(1)).alias("n")).collect()
        }
        reached = _reached_landing(versions) if counts.pop(BATCH_MARKER, 0) else None
        if counts:
            _curate(target, versions, counts, curated_at, persisted)
        if reached:
            _mark_curated(target, reached, counts, curated_at)
    finally:
        for frame in persisted:
            frame.unpersist()
    log.info(
        "curate batch %d: raw versions %s curated in %.1fs",
        batch_id,
        counts,
        time.monotonic() - began,
    )
    return reached[0] if reached else None


def _reached_landing(versions: DataFrame) -> tuple[int, str] | None:
    marker = (
        versions.filter(F.col("endpoint") == BATCH_MARKER)
        .select("curate_seq", "curate_batch")
        .first()
    )
    return None if marker is None else (int(marker["curate_seq"]), str(marker["curate_batch"]))


def _mark_curated(
    target: DwhTarget, reached: tuple[int, str], counts: dict[str, int], curated_at: datetime
) -> None:
    store = DwhStore(target.uri, target.database)
    try:
        store.mark_curated(reached[0], reached[1], counts, curated_at)
    finally:
        store.close()


def _curate(
    target: DwhTarget,
    versions: DataFrame,
    counts: dict[str, int],
    curated_at: datetime,
    persisted: list[DataFrame],
) -> None:
    spark = versions.sparkSession
    store = DwhStore(target.uri, target.database)
    try:
        existing = {spec.collection: store.known_ids(spec.collection) for spec in DIMENSIONS}
    finally:
        store.close()

    rejected: list[DataFrame] = []
    known: dict[str, DataFrame] = {}
    for spec in DIMENSIONS:
        known[spec.collection] = spark.createDataFrame(
            [(key,) for key in existing[spec.collection]], _IDS
        )
        if not counts.get(spec.endpoint):
            continue  # each skipped endpoint saves a Spark job on a conversations-only batch
        frames = build_dimension(spec, versions.filter(F.col("endpoint") == spec.endpoint))
        rows = frames.rows.persist()
        persisted.append(rows)
        write_upserts(_audited(rows, curated_at), target.uri, target.database, spec.collection)
        # distinct: a member both stored and in this batch must match a fact only once.
        known[spec.collection] = known[spec.collection].unionByName(rows.select("_id")).distinct()
        rejected.append(frames.rejected)

    if counts.get("conversations"):

        def keep(frame: DataFrame) -> DataFrame:
            persisted.append(frame.persist())
            return frame

        conversations = versions.filter(F.col("endpoint") == "conversations")
        calls = build_conversation_facts(conversations, reuse=keep)
        fact_call = resolve_references(calls.calls, CALL_REFERENCES, known)
        fact_call = with_customer_fields(fact_call, conversations, target.privacy)
        write_upserts(_audited(fact_call, curated_at), target.uri, target.database, "fact_call")
        fact_skill = resolve_references(calls.call_skills, SKILL_REFERENCES, known)
        write_upserts(
            _audited(fact_skill, curated_at), target.uri, target.database, "fact_call_skill"
        )
        rejected.append(calls.rejected)
    if rejected:
        _quarantine(target, rejected, curated_at, persisted)


def _quarantine(
    target: DwhTarget, rejected: list[DataFrame], curated_at: datetime, persisted: list[DataFrame]
) -> None:
    everything = rejected[0]
    for frame in rejected[1:]:
        everything = everything.unionByName(frame)
    records = everything.select(
        F.concat_ws("|", "raw_id", "reason").alias("_id"),
        "raw_id",
        "endpoint",
        "entity_id",
        "reason",
        "curate_batch",
        F.lit(curated_at).cast("timestamp").alias("quarantined_at"),
    ).persist()
    persisted.append(records)
    quarantined = records.count()
    if quarantined:
        log.warning("curate: %d raw versions quarantined", quarantined)
        write_upserts(records, target.uri, target.database, QUARANTINE)
