"""A fact curated before its agent is listed points to the unknown member, and to the agent
once a later batch brings them; an agent who left (listed as `deleted`) stays a member.

Real landing, the `genesys_raw` reader and two curate batches, against the MongoDB-wire server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymongo import MongoClient

from connectors.mongo.dwh_store import DwhStore
from connectors.mongo.raw_source import RAW_VERSION_SCHEMA, RawStreamReader
from connectors.mongo.raw_store import RawStore
from jobs.curate import DwhTarget, curate_raw_batch
from tests.integration.conftest import DbNames

pytestmark = pytest.mark.integration

START = "2026-12-04T10:00:00.000Z"


def _call(conversation_id: str, agent: str) -> dict[str, Any]:
    return {
        "conversationId": conversation_id,
        "conversationStart": START,
        "conversationEnd": "2026-12-04T10:05:00.000Z",
        "originatingDirection": "inbound",
        "participants": [
            {
                "purpose": "agent",
                "userId": agent,
                "sessions": [
                    {
                        "mediaType": "voice",
                        "segments": [
                            {"segmentStart": START, "segmentEnd": "2026-12-04T10:05:00.000Z",
                             "segmentType": "interact", "queueId": "q-1"}
                        ],
                    }
                ],
            }
        ],
    }  # fmt: skip


def _row(endpoint: str, entity_id: str, payload: dict[str, Any], batch: str) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "entity_id": entity_id,
        "payload": json.dumps(payload),
        "batch_key": batch,
        "window_start": START,
        "window_end": batch,
        "fetched_at": batch,
    }


def _land_and_curate(
    spark: Any, uri: str, names: DbNames, landing: int, rows: list[dict[str, Any]]
) -> None:
    """Land `rows` as landing number `landing`, then curate what the reader returns for it."""
    batch = rows[0]["batch_key"]
    raw = RawStore(uri, names.raw)
    try:
        raw.ensure_indexes()
        raw.land(rows, landing)
        raw.mark_complete(batch, landing, {}, {})
    finally:
        raw.close()
    reader = RawStreamReader({"connection.uri": uri, "database": names.raw})
    try:
        parts = reader.partitions({"seq": landing - 1}, {"seq": landing})
        read = [row for part in parts for row in reader.read(part)]
    finally:
        reader.stop()
    versions = spark.createDataFrame(read, RAW_VERSION_SCHEMA)
    assert curate_raw_batch(DwhTarget(uri, names.dwh), versions, landing) == landing


def test_curate_agent_listed_after_their_call_fact_corrected_and_leaver_kept(
    spark: Any, mongo_uri: str, fresh_db_names: DbNames, mongo_client: MongoClient[Any]
) -> None:
    dwh = DwhStore(mongo_uri, fresh_db_names.dwh)
    try:
        dwh.ensure_schema()
    finally:
        dwh.close()
    first = "2026-12-04T10:06:00.000Z"
    _land_and_curate(spark, mongo_uri, fresh_db_names, 1, [
        _row("conversations", "c-1", _call("c-1", "u-late"), first),
        _row("conversations", "c-2", _call("c-2", "u-gone"), first),
    ])  # fmt: skip
    facts = mongo_client[fresh_db_names.dwh].fact_call
    assert {d["_id"]: d["agent_key"] for d in facts.find()} == {"c-1": "unknown", "c-2": "unknown"}

    second = "2026-12-04T10:08:00.000Z"
    _land_and_curate(spark, mongo_uri, fresh_db_names, 2, [
        _row("users", "u-late", {"id": "u-late", "name": "Late Agent", "state": "active"}, second),
        _row("users", "u-gone", {"id": "u-gone", "name": "Left Agent", "state": "deleted"}, second),
    ])  # fmt: skip

    assert {d["_id"]: (d["agent_id"], d["agent_key"]) for d in facts.find()} == {
        "c-1": ("u-late", "u-late"),
        "c-2": ("u-gone", "u-gone"),
    }
    users = mongo_client[fresh_db_names.dwh].dim_user
    gone = users.find_one({"_id": "u-gone"})
    assert gone is not None
    assert (gone["name"], gone["state"], gone["is_active"]) == ("Left Agent", "deleted", False)
