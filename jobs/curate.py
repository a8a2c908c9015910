"""The curate job's micro-batch: raw versions in, star-schema documents out.

Dimensions are written before facts, so that a fact resolves the members that arrived in the
same batch. A batch that reaches complete listings of a dimension flags the members they no longer
hold (never deletes them). A raw version that cannot be curated goes to the `quarantine`
collection with its reason and a reference to its raw `_id`; nothing is dropped silently.
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
from connectors.mongo.dwh_store import (
    QUARANTINE,
    DwhStore,
    write_changes,
    write_updates,
    write_upserts,
)
from connectors.mongo.raw_source import BATCH_MARKER, CONTROL_ROWS, LISTED, LISTING
from jobs.quality import (
    VERSIONS_ACCOUNTED,
    Rule,
    RuleResult,
    Severity,
    account_versions,
    dimension_keys_resolve,
    dq_documents,
    end_not_before_start,
    entity_rejections,
    keys_not_null,
    known_values,
    metrics_not_negative,
    raise_on_stop,
    results,
    split,
    summarize,
    unique_keys,
)
from jobs.quality import flag as flag_rules
from jobs.star.conversations import build_conversation_facts
from jobs.star.customer_fields import with_customer_fields
from jobs.star.dimensions import DIMENSIONS, UNKNOWN_KEY, DimensionSpec, build_dimension
from jobs.star.listings import SOURCE_STATE, changed_states, judge_listings, with_source_state
from jobs.transforms.audit import with_audit
from jobs.transforms.ids import clean_id
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
_VERSION_IDS = StructType(
    [StructField(name, StringType()) for name in ("endpoint", "raw_id", "_id", "key")]
)
# Documented values of enum-like fact columns; others are kept as cleaned and reported (warn).
KNOWN_DIRECTIONS = ["inbound", "outbound", UNKNOWN_KEY]
KNOWN_MEDIA_TYPES = [
    "voice", "callback", "chat", "email", "message", "cobrowse", "screenshare", "video",
    UNKNOWN_KEY,
]  # fmt: skip
KNOWN_STATES = ["active", "inactive", "deleted", UNKNOWN_KEY]
CALL_METRICS = [
    "duration_ms", "talk_ms", "hold_ms", "acw_ms", "handle_ms", "wait_ms", "alert_ms",
    "ivr_ms", "n_offered", "n_transferred",
]  # fmt: skip


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
    quality = _BatchQuality(label=f"#{batch_id}")
    try:
        counts = {
            row["endpoint"]: row["n"]
            for row in versions.groupBy("endpoint").agg(F.count(F.lit(1)).alias("n")).collect()
        }
        reached = _reached_landing(versions) if counts.pop(BATCH_MARKER, 0) else None
        listed = _listed_endpoints(versions) if counts.pop(LISTING, 0) else {}
        counts.pop(LISTED, None)
        if reached:
            quality.label = f"{reached[1]} (landing {reached[0]})"
        try:
            if counts or listed:
                _curate(target, versions, counts, listed, curated_at, persisted, quality)
                _account(versions, quality)
        finally:
            # Also when a stop rule failed: the failure is then on record in dq_results.
            if reached:
                _record_quality(target, reached, quality, curated_at)
        raise_on_stop(quality.results, quality.label)
        if reached:
            _mark_curated(target, reached, counts, curated_at)
    finally:
        for frame in persisted:
            frame.unpersist()
    tally = quality.tally
    log.info(
        "curate batch %d: read=%d curated_entities=%d superseded_versions=%d quarantined=%d "
        "(raw versions %s) in %.1fs",
        batch_id,
        tally.get("read", 0),
        tally.get("curated_entities", 0),
        tally.get("superseded_versions", 0),
        tally.get("quarantined", 0),
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


def _listed_endpoints(versions: DataFrame) -> dict[str, tuple[int, datetime]]:
    """Endpoints with complete listings in the batch -> (how many, the newest fetch time)."""
    found = (
        versions.filter(F.col("endpoint") == LISTING)
        .groupBy("entity_id")
        .agg(F.count(F.lit(1)).alias("n"), F.max("last_seen_at").alias("newest"))
        .collect()
    )
    return {row["entity_id"]: (row["n"], row["newest"]) for row in found}


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
    listed: dict[str, tuple[int, datetime]],
    curated_at: datetime,
    persisted: list[DataFrame],
    quality: _BatchQuality,
) -> None:
    spark = versions.sparkSession
    # Each skipped dimension saves Spark jobs on a conversations-only batch.
    due = [spec for spec in DIMENSIONS if counts.get(spec.endpoint) or spec.endpoint in listed]
    store = DwhStore(target.uri, target.database)
    try:
        existing = {spec.collection: store.known_ids(spec.collection) for spec in DIMENSIONS}
        stored = {spec.collection: store.source_states(spec.collection) for spec in due}
    finally:
        store.close()

    rejected: list[DataFrame] = []
    # Member ids by dimension, on the driver: stored ones, then those written by this batch.
    # Kept as sets, the frames facts resolve against need no de-duplicating shuffle in Spark.
    member_ids = {spec.collection: set(existing[spec.collection]) for spec in DIMENSIONS}
    for spec in DIMENSIONS:
        if spec.collection not in stored:
            continue
        states = spark.createDataFrame(stored[spec.collection], SOURCE_STATE)
        frames = build_dimension(spec, versions.filter(F.col("endpoint") == spec.endpoint))
        rules = _dimension_rules(frames.rows, spec.key_column)
        kept, dropped = _checked(frames.rows, rules, spec.collection, quality, persisted)
        rows = kept.persist()
        persisted.append(rows)
        quality.note_written(spec.endpoint, rows, frames.keyed, dropped)
        listing = spec.endpoint in listed
        judged = _judged(spec, versions, rows, states, persisted) if listing else states
        written = _audited(with_source_state(rows, judged), curated_at)
        _write_changes(written, target, spec.collection)
        if listing:
            _flag_unlisted(target, spec, rows, states, judged, curated_at, listed[spec.endpoint])
        member_ids[spec.collection].update(row["_id"] for row in rows.select("_id").collect())
        rejected.append(frames.rejected)
    # Each id once: a member both stored and in this batch must match a fact only once.
    known = {
        collection: spark.createDataFrame([(key,) for key in sorted(ids)], _IDS)
        for collection, ids in member_ids.items()
    }

    if counts.get("conversations"):

        def keep(frame: DataFrame) -> DataFrame:
            return _materialized(frame, persisted)

        conversations = versions.filter(F.col("endpoint") == "conversations")
        calls = build_conversation_facts(conversations, reuse=keep)
        fact_call = resolve_references(calls.calls, CALL_REFERENCES, known)
        fact_call = with_customer_fields(fact_call, conversations, target.privacy)
        fact_call, dropped = _checked(
            fact_call, _call_rules(known), "fact_call", quality, persisted
        )
        quality.note_written("conversations", fact_call, calls.keyed, dropped)
        _write_changes(_audited(fact_call, curated_at), target, "fact_call")
        fact_skill = resolve_references(calls.call_skills, SKILL_REFERENCES, known)
        # A call that went to quarantine takes its skill rows with it.
        gone = dropped.select(F.col("_id").alias("conversation_id"))
        fact_skill, dropped_skills = _checked(
            fact_skill.join(gone, "conversation_id", "left_anti"),
            _skill_rules(known),
            "fact_call_skill",
            quality,
            persisted,
        )
        quality.rejected.append(
            calls.keyed.drop("key").join(dropped_skills.select("raw_id", "reason"), "raw_id")
        )
        _write_changes(_audited(fact_skill, curated_at), target, "fact_call_skill")
        rejected.append(calls.rejected)
    rejected.extend(quality.rejected)
    if rejected:
        quality.quarantined = _quarantine(target, rejected, curated_at, persisted)
    if any(counts.get(spec.endpoint) for spec in DIMENSIONS):
        _correct_late_members(target, curated_at)


def _write_changes(frame: DataFrame, target: DwhTarget, collection: str) -> None:
    written = write_changes(frame, target.uri, target.database, collection)
    log.info("%s: %s", collection, written)


def _correct_late_members(target: DwhTarget, curated_at: datetime) -> None:
    """Facts curated before their agent, queue, skill... was listed point to the unknown
    member; once a batch brings the member, they point to it (their raw id was kept)."""
    store = DwhStore(target.uri, target.database)
    try:
        for fact, references in (
            ("fact_call", CALL_REFERENCES),
            ("fact_call_skill", SKILL_REFERENCES),
        ):
            corrected = store.correct_unknown_references(
                fact,
                {column: (_key_name(column), dim) for column, dim in references.items()},
                curated_at,
            )
            if corrected:
                log.info(
                    "curate: %s pointed to unknown members, now corrected: %s", fact, corrected
                )
    finally:
        store.close()


def _judged(
    spec: DimensionSpec,
    versions: DataFrame,
    rows: DataFrame,
    stored: DataFrame,
    persisted: list[DataFrame],
) -> DataFrame:
    """The source state of every member of `spec` after the batch's listings of its endpoint:
    stored members and the batch's new ones."""
    new = rows.select("_id").join(stored, "_id", "left_anti")
    members = stored.unionByName(new, allowMissingColumns=True)
    listings = versions.filter(
        (F.col("endpoint") == LISTING) & (F.col("entity_id") == spec.endpoint)
    ).select(
        F.col("entity_id").alias("endpoint"),
        F.col("raw_id").alias("listing_id"),
        F.col("last_seen_at").alias("fetched_at"),
    )
    held = (
        versions.filter(F.col("endpoint") == LISTED)
        .select(clean_id(F.col("entity_id")).alias("_id"), F.col("raw_id").alias("listing_id"))
        .filter(F.col("_id").isNotNull())
    )
    return _materialized(judge_listings(members, listings, held), persisted)


def _flag_unlisted(
    target: DwhTarget,
    spec: DimensionSpec,
    rows: DataFrame,
    stored: DataFrame,
    judged: DataFrame,
    curated_at: datetime,
    listings: tuple[int, datetime],
) -> None:
    """Write the changed source states of stored members the batch did not rewrite: those its
    listings no longer hold, mostly; their other fields stay as they were."""
    changed = changed_states(stored, judged).join(rows.select("_id"), "_id", "left_anti")
    changed = changed.withColumn("etl_last_updated_at", F.lit(curated_at).cast("timestamp"))
    write_updates(changed, target.uri, target.database, spec.collection)
    counted = judged.groupBy("in_source").agg(F.count(F.lit(1)).alias("n")).collect()
    tally = {row["in_source"]: row["n"] for row in counted}
    log.info(
        "curate: %s judged by %d complete listing(s), the newest fetched at %s: "
        "%d in source, %d removed from source",
        spec.collection,
        listings[0],
        listings[1],
        tally.get(True, 0),
        tally.get(False, 0),
    )


def _materialized(frame: DataFrame, persisted: list[DataFrame]) -> DataFrame:
    """`frame` computed once and cut from its plan (a local checkpoint), for frames read again.

    Persisting alone keeps the logical plan: the parsing and cleaning expressions are nested
    into every later frame, and the plans of the quarantine union grew past a 3 GiB driver
    heap. A local checkpoint lives in the executors' block stores like a persisted frame; a
    lost executor fails the batch, and the restarted batch computes it again.
    """
    checkpointed = frame.localCheckpoint(eager=True)
    persisted.append(checkpointed)
    return checkpointed


def _quarantine(
    target: DwhTarget, rejected: list[DataFrame], curated_at: datetime, persisted: list[DataFrame]
) -> DataFrame:
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
    return records


@dataclass
class _BatchQuality:
    """What one curate batch collects for its data-quality results and its reconciliation."""

    label: str
    results: list[RuleResult] = field(default_factory=list)
    used: list[DataFrame] = field(default_factory=list)  # endpoint, raw_id, _id
    keyed: list[DataFrame] = field(default_factory=list)  # endpoint, raw_id, key
    rejected: list[DataFrame] = field(default_factory=list)  # quarantine records to add
    quarantined: DataFrame | None = None
    tally: dict[str, int] = field(default_factory=dict)

    def note_written(
        self, endpoint: str, written: DataFrame, keyed: DataFrame, dropped: DataFrame
    ) -> None:
        """Remember an entity frame's written rows, its versions and its rejected rows."""
        self.used.append(written.select(F.lit(endpoint).alias("endpoint"), "raw_id", "_id"))
        self.keyed.append(keyed.select("endpoint", "raw_id", "key"))
        self.rejected.append(entity_rejections(dropped, keyed))


def _dimension_rules(rows: DataFrame, key_column: str) -> list[Rule]:
    rules = [keys_not_null(["_id", key_column]), unique_keys(["_id"])]
    if "state" in rows.columns:
        rules.append(known_values({"state": KNOWN_STATES}))
    return rules


def _call_rules(known: dict[str, DataFrame]) -> list[Rule]:
    keys = {_key_name(column): collection for column, collection in CALL_REFERENCES.items()}
    return [
        keys_not_null(["_id", "conversation_id"]),
        end_not_before_start("conversation_start", "conversation_end"),
        metrics_not_negative(CALL_METRICS),
        dimension_keys_resolve(keys, known),
        unique_keys(["_id"]),
        known_values({"direction": KNOWN_DIRECTIONS, "media_type": KNOWN_MEDIA_TYPES}),
    ]


def _skill_rules(known: dict[str, DataFrame]) -> list[Rule]:
    keys = {_key_name(column): collection for column, collection in SKILL_REFERENCES.items()}
    return [
        keys_not_null(["_id", "conversation_id", "skill_id"]),
        dimension_keys_resolve(keys, known),
        unique_keys(["_id"]),
    ]


def _checked(
    frame: DataFrame,
    rules: list[Rule],
    collection: str,
    quality: _BatchQuality,
    persisted: list[DataFrame],
) -> tuple[DataFrame, DataFrame]:
    """Run the rules on rows about to be written: (rows to write, rows to quarantine).

    Raises:
        DataQualityError: a `stop` rule failed; nothing of this frame has been written.
    """
    flagged = _materialized(flag_rules(frame, rules), persisted)
    found = results(summarize(flagged, rules).first().asDict(), rules, collection)
    quality.results.extend(found)
    for result in found:
        if result.failures and result.severity is Severity.WARN:
            log.warning(
                "curate %s: data-quality rule %s: %d row(s) of %s, e.g. %s",
                quality.label,
                result.rule,
                result.failures,
                collection,
                ", ".join(result.sample_ids),
            )
    raise_on_stop(found, quality.label)
    return split(flagged, rules)


def _account(versions: DataFrame, quality: _BatchQuality) -> None:
    """Reconcile the versions read with those written, superseded and quarantined."""
    spark = versions.sparkSession
    empty = spark.createDataFrame([], _VERSION_IDS)
    used = empty.select("endpoint", "raw_id", "_id")
    for frame in quality.used:
        used = used.unionByName(frame)
    keyed = empty.select("endpoint", "raw_id", "key")
    for frame in quality.keyed:
        keyed = keyed.unionByName(frame)
    quarantined = quality.quarantined
    if quarantined is None:
        quarantined = empty.select("endpoint", "raw_id")
    read = versions.filter(~F.col("endpoint").isin(*CONTROL_ROWS))
    tally = account_versions(read, used, keyed, quarantined).first().asDict()
    quality.tally = {
        name: int(tally[name] or 0)
        for name in (
            "read",
            "curated_entities",
            "superseded_versions",
            "quarantined",
            "unaccounted",
        )
    }
    quality.results.append(
        RuleResult(
            VERSIONS_ACCOUNTED,
            Severity.STOP,
            "raw",
            quality.tally["unaccounted"],
            tuple(tally["unaccounted_ids"] or ()),
        )
    )


def _record_quality(
    target: DwhTarget, reached: tuple[int, str], quality: _BatchQuality, curated_at: datetime
) -> None:
    documents = dq_documents(quality.results, reached[0], reached[1], curated_at)
    for document in documents:
        if document["rule"] == VERSIONS_ACCOUNTED:
            document.update({k: v for k, v in quality.tally.items() if k != "unaccounted"})
    store = DwhStore(target.uri, target.database)
    try:
        store.record_dq_results(documents)
    finally:
        store.close()
