"""Bad input through the real path: raw landing, the `genesys_raw` reader, one curate batch.

Every raw version must end curated, superseded by a curated version of its entity, or in
quarantine; nothing crashes the batch. A fixed sample checks exact counts; a property test
with `hypothesis` checks the same for 1,000 generated payloads per example.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient

from connectors.mongo.dwh_store import DQ_RESULTS, DwhStore
from connectors.mongo.raw_source import RAW_VERSION_SCHEMA, RawStreamReader
from connectors.mongo.raw_store import RawStore
from jobs.curate import DwhTarget, curate_raw_batch

pytestmark = pytest.mark.integration

BATCH = "2026-12-04T10:02:00.000Z"
START = "2026-12-04T10:00:00.000Z"


def _segments(count: int, start_minute: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "segmentStart": f"2026-12-04T10:{(start_minute + n // 60) % 60:02d}:{n % 60:02d}.000Z",
            "segmentType": "interact",
            "queueId": "q-1",
        }
        for n in range(count)
    ]


def _call(conversation_id: str, *, ended: bool = True, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "conversationId": conversation_id,
        "conversationStart": START,
        "originatingDirection": "inbound",
        "participants": [
            {
                "purpose": "agent",
                "userId": "u-1",
                "sessions": [
                    {
                        "mediaType": "voice",
                        "segments": _segments(2),
                        "metrics": [{"name": "tTalkComplete", "value": 1000}],
                    }
                ],
            }
        ],
    }
    if ended:
        record["conversationEnd"] = "2026-12-04T10:05:00.000Z"
    record.update(extra)
    return record


def _row(entity_id: str | None, payload: Any) -> dict[str, Any]:
    return {
        "endpoint": "conversations",
        "entity_id": entity_id,
        "payload": json.dumps(payload),
        "batch_key": BATCH,
        "window_start": START,
        "window_end": BATCH,
        "fetched_at": BATCH,
    }


def _curate_rows(spark: Any, uri: str, raw_db: str, dwh_db: str, rows: list[dict[str, Any]]):
    """Land `rows` as landing 1, read them back as the curate source does, curate once."""
    raw = RawStore(uri, raw_db)
    dwh = DwhStore(uri, dwh_db)
    try:
        raw.ensure_indexes()
        raw.land(rows, 1)
        raw.mark_complete(BATCH, 1, {}, {})
        dwh.ensure_schema()
    finally:
        raw.close()
        dwh.close()
    reader = RawStreamReader({"connection.uri": uri, "database": raw_db})
    try:
        read = [
            row for part in reader.partitions({"seq": 0}, {"seq": 1}) for row in reader.read(part)
        ]
    finally:
        reader.stop()
    versions = spark.createDataFrame(read, RAW_VERSION_SCHEMA)
    assert curate_raw_batch(DwhTarget(uri, dwh_db), versions, 0) == 1


def _accounting(client: MongoClient[Any], raw_db: str, dwh_db: str) -> dict[str, Any]:
    """Classify every stored raw version the way the brief's property states it."""
    curated = {doc["_id"]: doc["etl_raw_version"] for doc in client[dwh_db].fact_call.find()}
    quarantined = {doc["raw_id"] for doc in client[dwh_db].quarantine.find()}
    classes = {"curated": 0, "superseded": 0, "quarantined": 0, "lost": []}
    for doc in client[raw_db].conversations.find({}, {"entity_id": 1}):
        key = (doc["entity_id"] or "").strip().lower()
        if curated.get(key) == doc["_id"]:
            classes["curated"] += 1
        elif doc["_id"] in quarantined:
            classes["quarantined"] += 1
        elif key in curated:
            classes["superseded"] += 1
        else:
            classes["lost"].append(doc["_id"])
    return classes


def _reconciliation(client: MongoClient[Any], dwh_db: str) -> dict[str, Any]:
    doc = client[dwh_db][DQ_RESULTS].find_one({"_id": "1:raw_versions_accounted"})
    assert doc is not None
    return {k: doc[k] for k in ("failures", "read", "curated_entities", "superseded_versions",
                                "quarantined")}  # fmt: skip


def test_curate_fixed_bad_sample_every_version_accounted_with_expected_counts(
    spark: Any, mongo_uri: str, fresh_db_names: Any, mongo_client: MongoClient[Any]
) -> None:
    live = _call("c-a", ended=False)
    note = [{**_call("c-c")["participants"][0], "wrapUpNote": "n" * 2_000_000}]
    negative = _call("c-j", participants=[{"purpose": "agent", "sessions": [
        {"mediaType": "voice", "segments": _segments(3, 1),
         "metrics": [{"name": "tTalkComplete", "value": -5}]}]}])  # fmt: skip
    rows = [
        _row("c-a", live),
        _row("c-a", _call("c-a")),  # supersedes the live version
        _row(
            "c-b",
            _call(
                "c-b",
                participants=[
                    {
                        "purpose": "agent",
                        "sessions": [{"mediaType": "voice", "segments": _segments(5000)}],
                    }
                ],
            ),
        ),
        _row("c-c", _call("c-c", participants=note)),
        _row("c-d", _call("c-d", attributes={"a.b": 1})),  # stored as text, still curated
        _row("c-e", _call("c-e", attributes={"$weird": 1})),
        _row("c-f", _call("c-f", originatingDirection="sideways")),  # kept, warned
        _row("x-1", [1, 2]),
        _row("c-g", _call("c-g", participants={"purpose": "agent"})),
        _row("c-h", _call("c-h", conversationStart="1709633730123000")),
        _row(None, {"conversationStart": START}),
        _row("c-i", _call("c-i", conversationEnd="2026-12-04T09:00:00.000Z")),
        _row("c-j", _call("c-j", ended=False)),
        _row("c-j", negative),  # best version, breaks metrics_not_negative: both quarantined
    ]
    _curate_rows(spark, mongo_uri, fresh_db_names.raw, fresh_db_names.dwh, rows)

    dwh = mongo_client[fresh_db_names.dwh]
    assert sorted(doc["_id"] for doc in dwh.fact_call.find()) == [
        "c-a", "c-b", "c-c", "c-d", "c-e", "c-f",
    ]  # fmt: skip
    assert dwh.fact_call.find_one({"_id": "c-f"})["direction"] == "sideways"
    assert dwh.fact_call.find_one({"_id": "c-b"})["segment_count"] == 5000
    reasons = sorted((doc["entity_id"], doc["reason"]) for doc in dwh.quarantine.find())
    assert reasons == [
        ("", "conversationId is missing or blank"),
        ("c-g", "participants is not an array of participant objects"),
        ("c-h", "conversationStart is missing or not a valid instant"),
        ("c-i", "data-quality rule end_not_before_start failed: "
                "conversation_end must not be before conversation_start"),
        ("c-j", "data-quality rule metrics_not_negative failed: "
                "metric values must not be negative"),
        ("c-j", "superseded by a rejected version: data-quality rule metrics_not_negative "
                "failed: metric values must not be negative"),
        ("x-1", "payload is not a JSON object of a conversation record"),
    ]  # fmt: skip
    assert _accounting(mongo_client, fresh_db_names.raw, fresh_db_names.dwh) == {
        "curated": 6,
        "superseded": 1,
        "quarantined": 7,
        "lost": [],
    }
    assert _reconciliation(mongo_client, fresh_db_names.dwh) == {
        "failures": 0,
        "read": 14,
        "curated_entities": 6,
        "superseded_versions": 1,
        "quarantined": 7,
    }
    known = dwh[DQ_RESULTS].find_one({"_id": "1:known_values"})
    assert (known["severity"], known["failures"], known["sample_ids"]) == (
        "warn",
        1,
        ["fact_call:c-f"],
    )


# Mutations of a valid call; the generator spreads them evenly over the 1,000 payloads and
# hypothesis varies which conversation each one lands on and its details.
MUTATIONS = (
    "valid",
    "valid_live",
    "not_an_object",
    "participants_object",
    "metric_text",
    "missing_id",
    "missing_start",
    "start_year_56146",
    "unknown_enum",
    "dotted_key",
    "dollar_key",
    "many_segments",
    "negative_metric",
    "end_before_start",
)
PAYLOADS = 1000
POOL = 300  # conversation ids: several versions of one conversation meet in the batch


def _mutated(mutation: str, conversation_id: str, detail: int) -> tuple[str | None, Any]:
    call = _call(conversation_id, ended=mutation != "valid_live")
    call["participants"][0]["sessions"][0]["metrics"][0]["value"] = 1000 + detail
    changes: dict[str, Any] = {
        "participants_object": {"participants": {"purpose": "agent"}},
        "metric_text": {"participants": [{"sessions": [{"metrics": [{"value": "x"}]}]}]},
        "start_year_56146": {"conversationStart": str(1_709_633_730_123_000 + detail)},
        "unknown_enum": {"originatingDirection": f"dir-{detail % 3}"},
        "dotted_key": {"attributes": {f"k.{detail}": detail}},
        "dollar_key": {"attributes": {f"$k{detail}": detail}},
        "end_before_start": {"conversationEnd": "2026-12-04T09:00:00.000Z"},
    }
    call.update(changes.get(mutation, {}))
    if mutation == "not_an_object":
        return conversation_id, [conversation_id, detail]
    if mutation == "missing_id":
        del call["conversationId"]
        return None, call
    if mutation == "missing_start":
        del call["conversationStart"]
    if mutation == "many_segments":
        call["participants"][0]["sessions"][0]["segments"] = _segments(200 + detail % 50)
    if mutation == "negative_metric":
        call["participants"][0]["sessions"][0]["metrics"][0]["value"] = -1 - detail
    return conversation_id, call


@settings(
    max_examples=2,
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    draws=st.lists(
        st.tuples(st.integers(0, len(MUTATIONS) - 1), st.integers(0, POOL - 1), st.integers(0, 99)),
        min_size=PAYLOADS,
        max_size=PAYLOADS,
    )
)
def test_curate_generated_payloads_every_version_accounted(
    spark: Any, mongo_uri: str, mongo_client: MongoClient[Any], draws: list[tuple[int, int, int]]
) -> None:
    suffix = uuid.uuid4().hex[:8]
    raw_db, dwh_db = f"raw_{suffix}", f"dwh_{suffix}"
    rows = []
    for position, (shift, pool_index, detail) in enumerate(draws):
        # Offsets by position so that even the simplest example holds every mutation.
        mutation = MUTATIONS[(position + shift) % len(MUTATIONS)]
        conversation_id = f"c-{(position + pool_index) % POOL}"
        rows.append(_row(*_mutated(mutation, conversation_id, detail)))
    try:
        _curate_rows(spark, mongo_uri, raw_db, dwh_db, rows)
        classes = _accounting(mongo_client, raw_db, dwh_db)
        stored = mongo_client[raw_db].conversations.count_documents({})
        assert classes["lost"] == []
        assert classes["curated"] + classes["superseded"] + classes["quarantined"] == stored
        reconciliation = _reconciliation(mongo_client, dwh_db)
        assert reconciliation == {
            "failures": 0,
            "read": stored,
            "curated_entities": classes["curated"],
            "superseded_versions": classes["superseded"],
            "quarantined": classes["quarantined"],
        }
    finally:
        mongo_client.drop_database(raw_db)
        mongo_client.drop_database(dwh_db)
