"""From raw conversation versions to `fact_call` and `fact_call_skill` rows.

Input: one row per stored raw version (`raw_id`, `entity_id`, `first_seen_at`, `last_seen_at`,
`payload` JSON text, `curate_batch`). The best version per conversation is the one with the
latest activity (a call that ended has its end as last activity, later than anything a live
view shows; an e-mail re-opened after its end has later segments still), then the one with a
`conversationEnd`, then the most complete, then the last seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from jobs.schemas import CONVERSATION, is_malformed, parse_payload
from jobs.transforms.dedup import latest_per_key, split_missing_keys
from jobs.transforms.ids import clean_id, clean_id_list
from jobs.transforms.strings import clean_code, clean_string
from jobs.transforms.timestamps import parse_utc_instant, utc_date_key, utc_hour

# Metric name -> fact column, summed over all sessions of the conversation (milliseconds or
# counts). A "...Complete" metric is emitted once the activity ends and wins over the running
# one when both are present.
METRIC_COLUMNS = {
    "tTalkComplete": "talk_complete_ms",
    "tTalk": "talk_running_ms",
    "tHeldComplete": "hold_complete_ms",
    "tHeld": "hold_running_ms",
    "tAcw": "acw_ms",
    "tHandle": "handle_ms",
    "tAcd": "wait_ms",
    "tAlert": "alert_ms",
    "tIvr": "ivr_ms",
    "tAbandon": "abandon_ms",
    "tNotResponding": "not_responding_ms",
    "nOffered": "n_offered",
    "nTransferred": "n_transferred",
}
TRANSFER_DISCONNECTS = ["transfer", "consulttransfer", "forwardtransfer", "notavailabletransfer"]


@dataclass(frozen=True)
class ConversationFrames:
    """What the conversation builder produces for one batch."""

    calls: DataFrame
    call_skills: DataFrame
    rejected: DataFrame
    # Versions that passed parsing (`endpoint`, `raw_id`, `entity_id`, `curate_batch`, `key`),
    # so that the curate job can account for the versions each fact row supersedes.
    keyed: DataFrame


# Quarantine reasons of conversation versions that cannot be curated (docs/star-schema.md).
NOT_AN_OBJECT = "payload is not a JSON object of a conversation record"
PARTICIPANTS_NOT_ARRAY = "participants is not an array of participant objects"
WRONG_TYPES = "a field has the wrong type for the conversation schema"
MISSING_ID = "conversationId is missing or blank"
BAD_START = "conversationStart is missing or not a valid instant"
BAD_END = "conversationEnd is present but not a valid instant"


def _malformed_reason(payload: Column) -> Column:
    # from_json marks the whole record corrupt for any field of the wrong type; naming the
    # field that matters most (participants, where every measure comes from) helps the fix.
    participants = F.get_json_object(payload, "$.participants")
    participants_ok = participants.isNull() | F.json_array_length(participants).isNotNull()
    return (
        F.when(F.json_object_keys(payload).isNull(), F.lit(NOT_AN_OBJECT))
        .when(~participants_ok, F.lit(PARTICIPANTS_NOT_ARRAY))
        .otherwise(F.lit(WRONG_TYPES))
    )


def parse_versions(versions: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Parse payloads with the explicit schema; return (parsed, rejected with a reason).

    Rejected: not a JSON object, a field of the wrong type (the parser would drop it
    silently), no usable `conversationId`, a `conversationStart` that is missing or not an
    instant of years 1-9999 (so a value scaled by 1000 once too often, year 56146, is refused),
    an unreadable `conversationEnd` (an open conversation has none at all).
    """
    parsed = versions.withColumn("c", parse_payload(F.col("payload"), CONVERSATION)).withColumn(
        "conversation_id", clean_id(F.col("c.conversationId"))
    )
    unparsable = parsed.filter(is_malformed(F.col("c"))).withColumn(
        "reason", _malformed_reason(F.col("payload"))
    )
    keyed, keyless = split_missing_keys(
        parsed.filter(~is_malformed(F.col("c"))), ["conversation_id"]
    )
    keyless = keyless.withColumn("reason", F.lit(MISSING_ID))
    end_text = clean_string(F.col("c.conversationEnd"))
    instant_reason = F.when(
        parse_utc_instant(F.col("c.conversationStart")).isNull(), F.lit(BAD_START)
    ).when(end_text.isNotNull() & parse_utc_instant(end_text).isNull(), F.lit(BAD_END))
    checked = keyed.withColumn("reason", instant_reason)
    untimed = checked.filter(F.col("reason").isNotNull())
    keyed = checked.filter(F.col("reason").isNull()).drop("reason")
    rejected = (
        unparsable.unionByName(keyless)
        .unionByName(untimed)
        .select("endpoint", "raw_id", "entity_id", "curate_batch", "reason")
    )
    return keyed, rejected


def _segments(parsed: DataFrame) -> DataFrame:
    """One row per segment: the participant, session and segment fields the facts use."""
    participants = parsed.select(
        "raw_id", "conversation_id", F.explode("c.participants").alias("p")
    )
    sessions = participants.select(
        "raw_id",
        "conversation_id",
        clean_code(F.col("p.purpose")).alias("purpose"),
        clean_id(F.col("p.userId")).alias("user_id"),
        F.explode("p.sessions").alias("s"),
    )
    return sessions.select(
        "raw_id",
        "conversation_id",
        "purpose",
        "user_id",
        clean_code(F.col("s.mediaType")).alias("media_type"),
        F.explode("s.segments").alias("g"),
    ).select(
        "raw_id",
        "conversation_id",
        "purpose",
        "user_id",
        "media_type",
        parse_utc_instant(F.col("g.segmentStart")).alias("segment_start"),
        parse_utc_instant(F.col("g.segmentEnd")).alias("segment_end"),
        clean_code(F.col("g.segmentType")).alias("segment_type"),
        clean_id(F.col("g.queueId")).alias("queue_id"),
        clean_id_list(F.col("g.requestedRoutingSkillIds")).alias("skill_ids"),
        clean_code(F.col("g.disconnectType"), default=None).alias("disconnect_type"),
        clean_id(F.col("g.wrapUpCode")).alias("wrapup_code"),
    )


def _metrics(parsed: DataFrame) -> DataFrame:
    """Per raw version, the sum of each metric of interest over every session."""
    metrics = (
        parsed.select("raw_id", F.explode("c.participants").alias("p"))
        .select("raw_id", F.explode("p.sessions").alias("s"))
        .select("raw_id", F.explode("s.metrics").alias("m"))
        .select("raw_id", F.col("m.name").alias("name"), F.col("m.value").alias("value"))
    )
    sums = [
        F.sum(F.when(F.col("name") == name, F.col("value"))).alias(column)
        for name, column in METRIC_COLUMNS.items()
    ]
    return metrics.groupBy("raw_id").agg(*sums)


def _best_versions(parsed: DataFrame, segments: DataFrame) -> DataFrame:
    """Keep one version per conversation, ranked as the module docstring says."""
    activity = segments.groupBy("raw_id").agg(
        F.greatest(F.max("segment_start"), F.max("segment_end")).alias("last_segment_at"),
        F.count(F.lit(1)).alias("segment_count"),
    )
    ranked = (
        parsed.join(activity, "raw_id", "left")
        .withColumn("conversation_end", parse_utc_instant(F.col("c.conversationEnd")))
        .withColumn("last_activity", F.greatest("conversation_end", "last_segment_at"))
        .withColumn(
            "first_loaded_at", F.min("first_seen_at").over(Window.partitionBy("conversation_id"))
        )
    )
    order = [
        F.col("last_activity").desc_nulls_last(),
        F.col("conversation_end").isNotNull().desc(),
        F.col("segment_count").desc_nulls_last(),
        F.col("last_seen_at").desc_nulls_last(),
        F.col("raw_id").desc(),
    ]
    return latest_per_key(ranked, ["conversation_id"], order)


def _call_facts(best: DataFrame, segments: DataFrame, metrics: DataFrame) -> DataFrame:
    """One `fact_call` row per conversation from its best version."""
    seg = segments.join(best.select("raw_id"), "raw_id", "left_semi")
    is_agent_talk = (F.col("purpose") == "agent") & (F.col("segment_type") == "interact")
    per_call = seg.groupBy("raw_id").agg(
        F.min_by("queue_id", F.when(F.col("queue_id").isNotNull(), F.col("segment_start"))).alias(
            "first_queue_id"
        ),
        F.max_by("queue_id", F.when(F.col("queue_id").isNotNull(), F.col("segment_start"))).alias(
            "last_queue_id"
        ),
        F.max_by("user_id", F.when(is_agent_talk, F.col("segment_start"))).alias("agent_id"),
        F.max_by(
            "wrapup_code", F.when(F.col("wrapup_code").isNotNull(), F.col("segment_start"))
        ).alias("wrapup_code"),
        F.min_by(
            "media_type",
            F.when(F.col("purpose").isin("customer", "external"), F.col("segment_start")),
        ).alias("customer_media_type"),
        F.min_by("media_type", F.col("segment_start")).alias("first_media_type"),
        F.max(is_agent_talk.cast("int")).alias("answered_int"),
        F.max((F.col("purpose") == "acd").cast("int")).alias("queued_int"),
        # An ACD segment always ends in "transfer" (to the agent); only agents transfer calls.
        F.max(
            (
                (F.col("purpose") == "agent") & F.col("disconnect_type").isin(TRANSFER_DISCONNECTS)
            ).cast("int")
        ).alias("xfer_int"),
        F.countDistinct("user_id").alias("agent_count"),
    )
    calls = best.join(per_call, "raw_id", "left").join(metrics, "raw_id", "left")
    start = parse_utc_instant(F.col("c.conversationStart"))
    is_final = F.col("conversation_end").isNotNull()
    answered = F.coalesce(F.col("answered_int"), F.lit(0)) == 1
    return calls.select(
        F.col("conversation_id").alias("_id"),
        "conversation_id",
        start.alias("conversation_start"),
        "conversation_end",
        utc_date_key(start).alias("date_key"),
        utc_hour(start).alias("hour"),
        F.when(is_final, F.unix_millis("conversation_end") - F.unix_millis(start)).alias(
            "duration_ms"
        ),
        clean_code(F.col("c.originatingDirection")).alias("direction"),
        F.coalesce("customer_media_type", "first_media_type", F.lit("unknown")).alias("media_type"),
        clean_id_list(F.col("c.divisionIds")).alias("division_ids"),
        F.get(clean_id_list(F.col("c.divisionIds")), 0).alias("division_id"),
        "first_queue_id",
        "last_queue_id",
        "agent_id",
        "wrapup_code",
        answered.alias("answered"),
        (
            F.col("abandon_ms").isNotNull()
            | (is_final & (F.coalesce(F.col("queued_int"), F.lit(0)) == 1) & ~answered)
        ).alias("abandoned"),
        (
            (F.coalesce(F.col("n_transferred"), F.lit(0)) > 0)
            | (F.coalesce(F.col("xfer_int"), F.lit(0)) == 1)
        ).alias("transferred"),
        F.coalesce("talk_complete_ms", "talk_running_ms").alias("talk_ms"),
        F.coalesce("hold_complete_ms", "hold_running_ms").alias("hold_ms"),
        "acw_ms",
        "handle_ms",
        "wait_ms",
        "alert_ms",
        "ivr_ms",
        "abandon_ms",
        "not_responding_ms",
        "n_offered",
        "n_transferred",
        F.coalesce(F.col("agent_count"), F.lit(0)).alias("agent_count"),
        F.coalesce(F.col("segment_count"), F.lit(0)).alias("segment_count"),
        is_final.alias("is_final"),
        F.when(is_final, "final").otherwise("open").alias("state"),
        "raw_id",
        "first_loaded_at",
        "curate_batch",
    )


def _call_skill_facts(best: DataFrame, segments: DataFrame) -> DataFrame:
    """One `fact_call_skill` row per conversation and requested skill (customer, acd, agent)."""
    skills = (
        segments.join(best.select("raw_id", "first_loaded_at", "curate_batch"), "raw_id")
        .filter(F.col("purpose").isin("customer", "acd", "agent"))
        .select(
            "conversation_id",
            "raw_id",
            "first_loaded_at",
            "curate_batch",
            "queue_id",
            "segment_start",
            F.explode("skill_ids").alias("skill_id"),
        )
    )
    return (
        skills.groupBy("conversation_id", "skill_id")
        .agg(
            F.first("raw_id").alias("raw_id"),
            F.first("first_loaded_at").alias("first_loaded_at"),
            F.first("curate_batch").alias("curate_batch"),
            F.min_by("queue_id", "segment_start").alias("queue_id"),
            F.min("segment_start").alias("first_requested_at"),
        )
        .select(
            F.concat_ws(":", "conversation_id", "skill_id").alias("_id"),
            "conversation_id",
            "skill_id",
            "queue_id",
            "first_requested_at",
            utc_date_key(F.col("first_requested_at")).alias("date_key"),
            "raw_id",
            "first_loaded_at",
            "curate_batch",
        )
    )


def build_conversation_facts(
    versions: DataFrame, reuse: Callable[[DataFrame], DataFrame] = lambda frame: frame
) -> ConversationFrames:
    """Parse, pick the best version per conversation and build both fact tables.

    Args:
        versions: raw conversation versions (columns of the `genesys_raw` source) with
            `first_seen_at`/`last_seen_at` already parsed to timestamps.
        reuse: applied to the intermediate frames that both fact tables read (the parsed
            versions, their segments, the best versions); the curate job persists them, so
            each is computed once per batch. Identity by default, which keeps this pure.
    """
    parsed, rejected = parse_versions(versions)
    parsed = reuse(parsed)
    segments = reuse(_segments(parsed))
    best = reuse(_best_versions(parsed, segments))
    calls = _call_facts(best, segments, _metrics(parsed))
    keyed = parsed.select(
        "endpoint", "raw_id", "entity_id", "curate_batch", F.col("conversation_id").alias("key")
    )
    return ConversationFrames(calls, _call_skill_facts(best, segments), rejected, keyed)
