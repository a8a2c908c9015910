"""The raw layer against a real MongoDB-wire server: versions, idempotency, markers, text
fallback for keys a server may refuse."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connectors.mongo.raw_store import RawStore, payload_sha256
from tests.integration.conftest import DbNames

pytestmark = pytest.mark.integration


def _row(payload: Any, batch: str, fetched: str, entity: str = "c-1") -> dict[str, Any]:
    return {
        "endpoint": "conversations",
        "entity_id": entity,
        "payload": json.dumps(payload),
        "batch_key": batch,
        "window_start": "2026-12-04T10:00:00.000Z",
        "window_end": batch,
        "fetched_at": fetched,
    }


@pytest.fixture
def store(mongo_uri: str, fresh_db_names: DbNames) -> Iterator[RawStore]:
    raw = RawStore(mongo_uri, fresh_db_names.raw)
    raw.ensure_indexes()
    yield raw
    raw.close()


LIVE = {"conversationId": "c-1", "conversationStart": "2026-12-04T10:00:00.000Z"}
ENDED = {**LIVE, "conversationEnd": "2026-12-04T10:05:00.000Z"}


def test_raw_store_same_payload_twice_keeps_one_version(store: RawStore) -> None:
    store.land([_row(LIVE, "B1", "2026-12-04T10:02:00.000Z")], 1)
    store.land([_row(LIVE, "B2", "2026-12-04T10:04:00.000Z")], 2)
    docs = list(store.db.conversations.find())
    assert [(d["_id"], d["ingest_batch"], d["last_seen_batch"]) for d in docs] == [
        (f"c-1:{payload_sha256(LIVE)}", "B1", "B2")
    ]


def test_raw_store_changed_payload_adds_a_version(store: RawStore) -> None:
    store.land([_row(LIVE, "B1", "2026-12-04T10:02:00.000Z")], 1)
    store.land([_row(ENDED, "B2", "2026-12-04T10:06:00.000Z")], 2)
    payloads = sorted(
        (d["ingest_batch"], "conversationEnd" in d["payload"])
        for d in store.db.conversations.find()
    )
    assert payloads == [("B1", False), ("B2", True)]


def test_raw_store_replaying_an_older_batch_keeps_last_seen(store: RawStore) -> None:
    store.land([_row(LIVE, "B2", "2026-12-04T10:04:00.000Z")], 2)
    store.land([_row(LIVE, "B1", "2026-12-04T10:02:00.000Z")], 1)
    doc = store.db.conversations.find_one()
    assert (doc["last_seen_batch"], doc["last_seen_at"].isoformat()) == (
        "B2",
        "2026-12-04T10:04:00+00:00",
    )


def test_raw_store_unstorable_keys_are_kept_as_text(store: RawStore) -> None:
    payload = {**LIVE, "attributes": {"a.b": 1, "$weird": 2}}
    store.land([_row(payload, "B1", "2026-12-04T10:02:00.000Z")], 1)
    doc = store.db.conversations.find_one()
    assert "payload" not in doc
    assert json.loads(doc["payload_text"]) == payload
    assert doc["payload_stored_as_text_because"] == "key 'a.b' is not storable"


def test_raw_store_latest_landing_follows_the_sequence_not_the_window(store: RawStore) -> None:
    # A backfill of an older window lands after a newer one: the curate query must see it.
    store.mark_complete("2026-12-04T10:04:00.000Z", 5, {"conversations": 1}, {})
    store.mark_complete("2026-12-04T10:02:00.000Z", 6, {"conversations": 1}, {})
    assert store.latest_landing() == (6, "2026-12-04T10:02:00.000Z")
    assert store.landing_of("2026-12-04T10:04:00.000Z") == 5


def test_raw_store_next_land_seq_is_above_every_marker(store: RawStore) -> None:
    far_future = 10**15
    store.mark_complete("2026-12-04T10:04:00.000Z", far_future, {}, {})
    assert store.next_land_seq() == far_future + 1


def test_raw_store_touched_ids_follow_the_latest_landing(store: RawStore) -> None:
    store.land([_row(LIVE, "B1", "2026-12-04T10:02:00.000Z", entity="c-1")], 1)
    store.land([_row(LIVE, "B3", "2026-12-04T10:06:00.000Z", entity="c-1")], 3)
    second = {**LIVE, "conversationId": "c-2"}
    store.land([_row(second, "B2", "2026-12-04T10:04:00.000Z", entity="c-2")], 2)
    assert store.touched_entity_ids("conversations", 2, 3) == ["c-1"]
    assert store.touched_entity_ids("conversations", 1, 2) == ["c-2"]
    assert store.touched_entity_ids("conversations", 0, 3) == ["c-1", "c-2"]


def test_raw_store_record_without_id_is_kept_under_an_empty_id(store: RawStore) -> None:
    keyless = {"conversationStart": "2026-12-04T10:00:00.000Z"}
    store.land([_row(keyless, "B1", "2026-12-04T10:02:00.000Z", entity=None)], 1)
    store.land([_row(LIVE, "B1", "2026-12-04T10:02:00.000Z")], 1)
    doc = store.db.conversations.find_one({"entity_id": ""})
    assert doc["_id"] == f"no-id:{payload_sha256(keyless)}"
    assert store.touched_entity_ids("conversations", 0, 1) == ["", "c-1"]


def test_raw_store_replaying_an_older_batch_moves_first_seen_back(store: RawStore) -> None:
    store.land([_row(LIVE, "B2", "2026-12-04T10:04:00.000Z")], 2)
    store.land([_row(LIVE, "B1", "2026-12-04T10:02:00.000Z")], 1)
    doc = store.db.conversations.find_one()
    assert (doc["ingest_batch"], doc["first_seen_at"].isoformat()) == (
        "B1",
        "2026-12-04T10:02:00+00:00",
    )


def test_raw_store_two_writers_landing_same_payloads_at_once_each_version_once(
    mongo_uri: str, fresh_db_names: DbNames
) -> None:
    """Two capture partitions may return the same conversations and upsert them at the same
    time; the loser of an insert race sends its upserts again instead of failing the batch."""
    rows = [
        _row({**ENDED, "conversationId": f"c-{n}"}, "2026-12-04T10:02:00.000Z",
             "2026-12-04T10:02:01.000Z", entity=f"c-{n}")
        for n in range(300)
    ]  # fmt: skip
    stores = [RawStore(mongo_uri, fresh_db_names.raw) for _ in range(2)]
    stores[0].ensure_indexes()
    barrier = threading.Barrier(len(stores))

    def land(store: RawStore) -> Counter[str]:
        barrier.wait()
        return store.land(rows, 7)

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            counts = list(pool.map(land, stores))
        collection = stores[0].db["conversations"]
        stored = collection.count_documents({})
        ids = {doc["entity_id"] for doc in collection.find({}, {"entity_id": 1})}
    finally:
        for store in stores:
            store.close()
    assert counts == [Counter({"conversations": 300})] * 2
    assert stored == 300
    assert ids == {f"c-{n}" for n in range(300)}
