"""Members a complete listing no longer holds are flagged, never deleted; facts keep pointing
to them, a member that comes back is un-flagged, and curating old raw batches again changes
nothing.

Capture batches are landed as the capture job lands them (payloads, one control record per
listing partition, then the marker with the landed counts), read back by the `genesys_raw`
reader and curated, against the MongoDB-wire server.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import MongoClient

from connectors.mongo.dwh_store import DwhStore
from connectors.mongo.raw_source import RAW_VERSION_SCHEMA, RawStreamReader
from connectors.mongo.raw_store import CONTROL_ENDPOINT, RawStore
from jobs.curate import DwhTarget, curate_raw_batch

pytestmark = pytest.mark.integration

CALL_START = "2026-12-04T10:20:00.000Z"
CALL_END = "2026-12-04T10:25:00.000Z"
BATCH_KEYS = {
    1: "2026-12-04T10:30:00.000Z",
    2: "2026-12-04T11:00:00.000Z",
    3: "2026-12-04T11:30:00.000Z",
}
# Fetch times (the Date of a listing's last response) differ from the batch keys on purpose.
FETCHED = {
    1: "2026-12-04T10:30:04.000Z",
    2: "2026-12-04T11:00:06.000Z",
    3: "2026-12-04T11:30:05.000Z",
}
SECOND_FETCH = datetime(2026, 12, 4, 11, 0, 6, tzinfo=UTC)
STATE = ("in_source", "removed_from_source_at")
Listings = dict[str, list[dict[str, Any]]]


def _queue(queue_id: str, name: str) -> dict[str, Any]:
    return {"id": queue_id, "name": name, "skillEvaluationMethod": "BEST"}


def _user(user_id: str, state: str) -> dict[str, Any]:
    return {"id": user_id, "name": f"Agent {user_id}", "state": state}


def _named(entity_id: str) -> dict[str, Any]:
    return {"id": entity_id, "name": entity_id.upper()}


def _call(conversation_id: str, queue: str, wrapup: str, agent: str) -> dict[str, Any]:
    segments = [
        {"segmentStart": CALL_START, "segmentEnd": CALL_END, "segmentType": "interact",
         "queueId": queue},
        {"segmentStart": CALL_END, "segmentEnd": CALL_END, "segmentType": "wrapup",
         "queueId": queue, "wrapUpCode": wrapup},
    ]  # fmt: skip
    return {
        "conversationId": conversation_id,
        "conversationStart": CALL_START,
        "conversationEnd": CALL_END,
        "originatingDirection": "inbound",
        "participants": [
            {"purpose": "agent", "userId": agent,
             "sessions": [{"mediaType": "voice", "segments": segments}]}
        ],
    }  # fmt: skip


class CaptureLanding:
    """Lands capture batches into one raw database the way jobs/capture.py does."""

    def __init__(self, uri: str, database: str) -> None:
        self.uri = uri
        self.database = database

    def batch(
        self,
        landing: int,
        listings: Listings,
        calls: list[dict[str, Any]] | None = None,
        unvouched: Listings | None = None,
        disagreeing: Listings | None = None,
    ) -> None:
        """Land batch number `landing` with its listings and calls, and mark it complete.

        `unvouched` listings are landed by a run that failed: their payloads are stored under
        the landing, but the run that completed the batch did not list them again, so neither
        a control record nor the marker counts them. `disagreeing` listings are landed whole,
        but their pages reported different totals (an entity deleted while paging), so their
        control record's `listed_total` is null.
        """
        batch_key = BATCH_KEYS[landing]
        window = {"batch_key": batch_key, "window_start": CALL_START, "window_end": batch_key}
        fetched = FETCHED[landing]
        rows = [
            self._row("conversations", call["conversationId"], call, window, fetched)
            for call in calls or []
        ]
        disagreeing = disagreeing or {}
        for endpoint, entities in {**listings, **disagreeing}.items():
            rows += [self._row(endpoint, e["id"], e, window, fetched) for e in entities]
            # A listing partition's interval is its batch's window (source.partitions).
            control = {
                "endpoint": endpoint,
                "interval_start": CALL_START,
                "interval_end": batch_key,
                "records": len(entities),
                "listed_total": None if endpoint in disagreeing else len(entities),
            }
            rows.append(self._row(CONTROL_ENDPOINT, None, control, window, fetched))
        raw = RawStore(self.uri, self.database)
        try:
            raw.ensure_indexes()
            for endpoint, entities in (unvouched or {}).items():
                failed_run = [self._row(endpoint, e["id"], e, window, fetched) for e in entities]
                raw.land(failed_run, landing)
            counts: Counter[str] = raw.land(rows, landing)
            details = {"window_start": CALL_START, "window_end": batch_key, "partitions": 1}
            raw.mark_complete(batch_key, landing, dict(counts), details)
        finally:
            raw.close()

    @staticmethod
    def _row(
        endpoint: str,
        entity_id: str | None,
        payload: dict[str, Any],
        window: dict[str, str],
        fetched: str,
    ) -> dict[str, Any]:
        return {
            "endpoint": endpoint,
            "entity_id": entity_id,
            "payload": json.dumps(payload),
            "fetched_at": fetched,
            **window,
        }


def _curate(spark: Any, uri: str, raw_db: str, dwh_db: str, after: int, upto: int) -> None:
    """Curate landings (after, upto] as one batch, read back as the curate query reads them."""
    reader = RawStreamReader({"connection.uri": uri, "database": raw_db})
    try:
        parts = reader.partitions({"seq": after}, {"seq": upto})
        read = [row for part in parts for row in reader.read(part)]
    finally:
        reader.stop()
    versions = spark.createDataFrame(read, RAW_VERSION_SCHEMA)
    assert curate_raw_batch(DwhTarget(uri, dwh_db), versions, upto) == upto


def _snapshot(client: MongoClient[Any], dwh_db: str) -> dict[str, dict[str, dict[str, Any]]]:
    names = ("dim_queue", "dim_wrapup_code", "dim_user", "dim_skill", "fact_call")
    return {name: {doc["_id"]: doc for doc in client[dwh_db][name].find()} for name in names}


def _states(snapshot: dict[str, Any], dimension: str) -> dict[str, tuple[Any, ...]]:
    return {
        key: tuple(doc.get(field) for field in STATE) for key, doc in snapshot[dimension].items()
    }


@pytest.fixture(scope="module")
def story(spark: Any, mongo_uri: str, mongo_client: MongoClient[Any]) -> Iterator[dict[str, Any]]:
    """Three capture batches, each curated, then old ranges curated again and a full replay."""
    suffix = uuid.uuid4().hex[:8]
    raw_db, dwh_db, replay_db = f"raw_{suffix}", f"dwh_{suffix}", f"dwh_{suffix}_replay"
    for database in (dwh_db, replay_db):
        dwh = DwhStore(mongo_uri, database)
        try:
            dwh.ensure_schema()
        finally:
            dwh.close()
    landing = CaptureLanding(mongo_uri, raw_db)
    snapshots: dict[str, Any] = {}
    try:
        landing.batch(1, {
            "queues": [_queue("q-1", "Sales"), _queue("q-2", "Support")],
            "wrapup_codes": [_named("w-1"), _named("w-2")],
            "users": [_user("u-1", "active"), _user("u-2", "active")],
            "skills": [_named("s-1"), _named("s-2")],
        }, calls=[_call("c-1", "q-1", "w-1", "u-2")])  # fmt: skip
        _curate(spark, mongo_uri, raw_db, dwh_db, 0, 1)
        snapshots["first"] = _snapshot(mongo_client, dwh_db)

        # Queue q-1 and code w-1 deleted, agent u-2 left; the skills listing of this batch
        # only landed by a run that failed, so it proves nothing.
        landing.batch(2, {
            "queues": [_queue("q-2", "Support")],
            "wrapup_codes": [_named("w-2")],
            "users": [_user("u-1", "active"), _user("u-2", "deleted")],
        }, calls=[_call("c-2", "q-1", "w-2", "u-1")],
           unvouched={"skills": [_named("s-2")]})  # fmt: skip
        _curate(spark, mongo_uri, raw_db, dwh_db, 1, 2)
        snapshots["second"] = _snapshot(mongo_client, dwh_db)

        # The skills listing lacks s-1, but its pages disagreed on the total: it proves nothing.
        landing.batch(3, {
            "queues": [_queue("q-1", "Sales"), _queue("q-2", "Support")],
            "wrapup_codes": [_named("w-2")],
        }, disagreeing={"skills": [_named("s-2")]})  # fmt: skip
        _curate(spark, mongo_uri, raw_db, dwh_db, 2, 3)
        snapshots["third"] = _snapshot(mongo_client, dwh_db)

        _curate(spark, mongo_uri, raw_db, dwh_db, 0, 1)
        _curate(spark, mongo_uri, raw_db, dwh_db, 1, 2)
        snapshots["old_again"] = _snapshot(mongo_client, dwh_db)

        _curate(spark, mongo_uri, raw_db, replay_db, 0, 3)
        snapshots["replay"] = _snapshot(mongo_client, replay_db)
        yield snapshots
    finally:
        for database in (raw_db, dwh_db, replay_db):
            mongo_client.drop_database(database)


def test_removed_members_first_listing_every_member_in_source(story: dict[str, Any]) -> None:
    assert _states(story["first"], "dim_queue") == {
        "q-1": (True, None),
        "q-2": (True, None),
        "unknown": (None, None),
    }


def test_removed_members_queue_and_code_missing_flagged_at_second_fetch(
    story: dict[str, Any],
) -> None:
    second = story["second"]
    assert _states(second, "dim_queue")["q-1"] == (False, SECOND_FETCH)
    assert _states(second, "dim_wrapup_code")["w-1"] == (False, SECOND_FETCH)
    assert _states(second, "dim_queue")["q-2"] == (True, None)
    assert _states(second, "dim_wrapup_code")["w-2"] == (True, None)


def test_removed_members_flagged_rows_keep_their_attributes(story: dict[str, Any]) -> None:
    queue = story["second"]["dim_queue"]["q-1"]
    code = story["second"]["dim_wrapup_code"]["w-1"]
    assert (queue["name"], queue["skill_evaluation_method"], queue["is_unknown"]) == (
        "Sales",
        "best",
        False,
    )
    first_version = story["first"]["dim_wrapup_code"]["w-1"]["etl_raw_version"]
    assert (code["name"], code["etl_raw_version"]) == ("W-1", first_version)


def test_removed_members_facts_keep_pointing_to_flagged_members(story: dict[str, Any]) -> None:
    facts = story["second"]["fact_call"]
    keys = {key: (f["last_queue_key"], f["wrapup_key"], f["agent_key"]) for key, f in facts.items()}
    assert keys == {
        "c-1": ("q-1", "w-1", "u-2"),
        "c-2": ("q-1", "w-2", "u-1"),
    }


def test_removed_members_user_listed_as_deleted_stays_in_source(story: dict[str, Any]) -> None:
    user = story["second"]["dim_user"]["u-2"]
    assert (user["state"], user["is_active"]) == ("deleted", False)
    assert _states(story["second"], "dim_user")["u-2"] == (True, None)


def test_removed_members_unvouched_listing_flags_nothing(story: dict[str, Any]) -> None:
    assert _states(story["second"], "dim_skill") == {
        "s-1": (True, None),
        "s-2": (True, None),
        "unknown": (None, None),
    }


def test_removed_members_listing_whose_pages_disagreed_on_total_flags_nothing(
    story: dict[str, Any],
) -> None:
    assert _states(story["third"], "dim_skill") == {
        "s-1": (True, None),
        "s-2": (True, None),
        "unknown": (None, None),
    }


def test_removed_members_fixed_members_never_judged(story: dict[str, Any]) -> None:
    codes = story["third"]["dim_wrapup_code"]
    fixed = ["unknown", "inin-wrap-up-timeout", "inin-outbound-transferred"]
    assert [sorted(set(STATE) & set(codes[key])) for key in fixed] == [[], [], []]


def test_removed_members_member_back_in_listing_unflagged(story: dict[str, Any]) -> None:
    assert _states(story["third"], "dim_queue")["q-1"] == (True, None)


def test_removed_members_still_missing_keeps_first_removal_instant(
    story: dict[str, Any],
) -> None:
    assert _states(story["third"], "dim_wrapup_code")["w-1"] == (False, SECOND_FETCH)


def test_removed_members_old_batches_curated_again_change_no_state(
    story: dict[str, Any],
) -> None:
    for dimension in ("dim_queue", "dim_wrapup_code", "dim_user", "dim_skill"):
        assert _states(story["old_again"], dimension) == _states(story["third"], dimension)


def test_removed_members_full_replay_gives_the_same_states(story: dict[str, Any]) -> None:
    for dimension in ("dim_queue", "dim_wrapup_code", "dim_user", "dim_skill"):
        assert _states(story["replay"], dimension) == _states(story["third"], dimension)
