"""The raw layer against a real MongoDB-wire server: versions, idempotency, markers, text
fallback for keys a server may refuse."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import connectors.mongo.raw_store as raw_store_module
from app.errors import SinkError
from connectors.mongo.raw_store import PAYLOAD_CHUNKS, RawStore, payload_sha256
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


def test_raw_store_landing_mixing_new_and_seen_versions_records_each_sighting(
    store: RawStore,
) -> None:
    """New versions are inserted, versions stored before get their own page's sighting: two
    pages fetched at different instants land together with one version new on each."""
    old = {n: {**ENDED, "conversationId": f"c-{n}"} for n in (1, 2)}
    store.land([_row(old[n], "B1", "2026-12-04T10:02:00.000Z", f"c-{n}") for n in (1, 2)], 1)
    second = [
        _row(old[1], "B2", "2026-12-04T10:04:00.000Z", "c-1"),
        _row({**ENDED, "conversationId": "c-3"}, "B2", "2026-12-04T10:04:00.000Z", "c-3"),
        _row(old[2], "B2", "2026-12-04T10:04:07.000Z", "c-2"),
        _row({**ENDED, "conversationId": "c-4"}, "B2", "2026-12-04T10:04:07.000Z", "c-4"),
    ]
    counts = store.land(second, 2)
    found = {
        d["entity_id"]: (
            d["ingest_batch"],
            d["first_seen_at"].isoformat(),
            d["last_seen_batch"],
            d["last_seen_at"].isoformat(),
            d["landed_seq"],
        )
        for d in store.db.conversations.find()
    }
    assert counts == Counter({"conversations": 4})
    assert found == {
        "c-1": ("B1", "2026-12-04T10:02:00+00:00", "B2", "2026-12-04T10:04:00+00:00", 2),
        "c-2": ("B1", "2026-12-04T10:02:00+00:00", "B2", "2026-12-04T10:04:07+00:00", 2),
        "c-3": ("B2", "2026-12-04T10:04:00+00:00", "B2", "2026-12-04T10:04:00+00:00", 2),
        "c-4": ("B2", "2026-12-04T10:04:07+00:00", "B2", "2026-12-04T10:04:07+00:00", 2),
    }


def _landing_fields(store: RawStore) -> list[tuple[str, str, str, int]]:
    """(payload kind, last_seen_batch, last_seen_at, landed_seq) of every conversation version."""
    return sorted(
        (
            "ended" if "conversationEnd" in d["payload"] else "live",
            d["last_seen_batch"],
            d["last_seen_at"].isoformat(),
            d["landed_seq"],
        )
        for d in store.db.conversations.find()
    )


def test_raw_store_conversation_seen_again_unchanged_writes_no_sighting(store: RawStore) -> None:
    """The overlap of two windows returns the same version a minute later: nothing to write."""
    store.land([_row(ENDED, "B1", "2026-12-04T10:06:00.000Z")], 1)
    store.mark_complete("B1", 1, {"conversations": 1}, {"partitions": 1})

    counts = store.land([_row(ENDED, "B2", "2026-12-04T10:08:00.000Z")], 2)

    assert counts == Counter({"conversations": 1, "conversations_seen_unchanged": 1})
    assert _landing_fields(store) == [("ended", "B1", "2026-12-04T10:06:00+00:00", 1)]


def test_raw_store_conversation_the_api_went_back_to_is_landed_again(store: RawStore) -> None:
    """Version A, then B, then A again: A's sighting is written, so that the curate step reads
    the conversation again and ranks A as the latest seen."""
    first = [("B1", LIVE, "10:02"), ("B2", ENDED, "10:04"), ("B3", LIVE, "10:06")]
    for seq, (batch, payload, at) in enumerate(first, start=1):
        store.land([_row(payload, batch, f"2026-12-04T{at}:00.000Z")], seq)
        store.mark_complete(batch, seq, {"conversations": 1}, {"partitions": 1})

    assert _landing_fields(store) == [
        ("ended", "B2", "2026-12-04T10:04:00+00:00", 2),
        ("live", "B3", "2026-12-04T10:06:00+00:00", 3),
    ]


def test_raw_store_dimension_seen_again_is_always_landed_again(store: RawStore) -> None:
    """A listed user's unchanged version is marked with every landing that lists it: the
    curate step finds members missing from a listing by that mark."""
    user = {"id": "u-1", "name": "Ana"}
    row = {**_row(user, "B1", "2026-12-04T10:00:00.000Z", "u-1"), "endpoint": "users"}
    store.land([row], 1)
    store.mark_complete("B1", 1, {"users": 1}, {"partitions": 1})

    counts = store.land([{**row, "batch_key": "B2", "fetched_at": "2026-12-04T10:02:00.000Z"}], 2)

    stored = store.db.users.find_one()
    assert counts == Counter({"users": 1})
    assert (stored["last_seen_batch"], stored["landed_seq"]) == ("B2", 2)


def _swept(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "capture_pass": "sweep"}


def test_raw_store_sweep_skips_version_a_complete_landing_stored(store: RawStore) -> None:
    store.land([_row(ENDED, "B1", "2026-12-04T10:06:00.000Z")], 1)
    store.mark_complete("B1", 1, {"conversations": 1}, {"partitions": 1})

    counts = store.land([_swept(_row(ENDED, "B2", "2026-12-04T10:30:00.000Z"))], 2)

    assert dict(counts) == {"sweep_unchanged": 1}
    assert [d["landed_seq"] for d in store.db.conversations.find()] == [1]


def test_raw_store_sweep_lands_again_version_only_a_failed_run_stored(store: RawStore) -> None:
    """Run 1 of batch B2 (landing 2) stored the version and failed before its marker; run 2
    (landing 3) must land it again, so that the completed landing holds it."""
    store.land([_row(LIVE, "B1", "2026-12-04T10:02:00.000Z")], 1)
    store.mark_complete("B1", 1, {"conversations": 1}, {"partitions": 1})
    store.land([_swept(_row(ENDED, "B2", "2026-12-04T10:30:00.000Z"))], 2)

    counts = store.land([_swept(_row(ENDED, "B2", "2026-12-04T10:31:00.000Z"))], 3)

    assert dict(counts) == {"conversations": 1}
    ended = store.db.conversations.find_one({"_id": f"c-1:{payload_sha256(ENDED)}"})
    assert ended is not None and ended["landed_seq"] == 3


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
    """Two capture partitions may return the same conversations and land them at the same
    time; the loser of an insert race records a sighting instead of failing the batch."""
    rows = [
        _row({**ENDED, "conversationId": f"c-{n}"}, "2026-12-04T10:02:00.000Z",
             "2026-12-04T10:02:01.000Z", entity=f"c-{n}")
        for n in range(300)
    ]  # fmt: skip
    stores = [RawStore(mongo_uri, fresh_db_names.raw) for _ in range(4)]
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
    assert counts == [Counter({"conversations": 300})] * 4
    assert stored == 300
    assert ids == {f"c-{n}" for n in range(300)}


def _note_payload(conversation_id: str, note_bytes: int) -> dict[str, Any]:
    # Hex of random bytes compresses to about half: large enough to need pieces when big.
    return {**ENDED, "conversationId": conversation_id, "note": os.urandom(note_bytes // 2).hex()}


@pytest.fixture
def small_payload_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inline up to 2,000 bytes, pieces of 1,000: large-payload paths with small payloads."""
    monkeypatch.setattr(raw_store_module, "INLINE_PAYLOAD_LIMIT", 2_000)
    monkeypatch.setattr(raw_store_module, "CHUNK_SIZE", 1_000)


def test_raw_store_20_mb_payload_stored_in_pieces_and_read_back_whole(store: RawStore) -> None:
    payload = _note_payload("c-huge", 20 * 1024 * 1024)
    row = _row(payload, "2026-12-04T10:02:00.000Z", "2026-12-04T10:02:01.000Z", entity="c-huge")

    assert store.land([row], 3) == Counter({"conversations": 1})

    doc = store.db.conversations.find_one({"entity_id": "c-huge"})
    assert doc is not None
    assert "payload" not in doc
    assert doc["payload_chunk_count"] == 3  # ~10 MiB compressed in 4 MiB pieces
    assert store.db[PAYLOAD_CHUNKS].count_documents({"raw_id": doc["_id"]}) == 3
    assert json.loads(store.payload_json(doc) or "") == payload
    assert doc["_id"] == f"c-huge:{payload_sha256(payload)}"


def test_raw_store_large_payloads_compressed_or_in_pieces_landing_twice_one_version(
    store: RawStore, small_payload_limits: None
) -> None:
    compressible = {**ENDED, "conversationId": "c-zip", "note": "n" * 5_000}
    pieces = _note_payload("c-pieces", 5_000)
    rows = [
        _row(compressible, "2026-12-04T10:02:00.000Z", "2026-12-04T10:02:01.000Z", entity="c-zip"),
        _row(pieces, "2026-12-04T10:02:00.000Z", "2026-12-04T10:02:01.000Z", entity="c-pieces"),
    ]

    store.land(rows, 1)
    store.land(rows, 2)

    zipped = store.db.conversations.find_one({"entity_id": "c-zip"})
    cut = store.db.conversations.find_one({"entity_id": "c-pieces"})
    assert zipped is not None and cut is not None
    assert sorted(zipped) == sorted(
        ["_id", "entity_id", "endpoint", "payload_sha256", "window_start", "window_end",
         "payload_gzip", "payload_stored_compressed_because", "first_seen_at", "ingest_batch",
         "landed_seq", "last_seen_at", "last_seen_batch"]
    )  # fmt: skip
    assert zipped["payload_stored_compressed_because"] == (
        f"{len(rows[0]['payload'].encode())} bytes of JSON, above the inline limit of 2000"
    )
    assert cut["payload_chunk_count"] == 3
    assert store.db.conversations.count_documents({}) == 2
    assert store.db[PAYLOAD_CHUNKS].count_documents({}) == 3
    assert json.loads(store.payload_json(zipped) or "") == compressible
    assert json.loads(store.payload_json(cut) or "") == pieces


def test_raw_store_piece_missing_read_fails_naming_the_version(
    store: RawStore, small_payload_limits: None
) -> None:
    payload = _note_payload("c-pieces", 5_000)
    store.land([_row(payload, "2026-12-04T10:02:00.000Z", "2026-12-04T10:02:01.000Z",
                     entity="c-pieces")], 1)  # fmt: skip
    doc = store.db.conversations.find_one({"entity_id": "c-pieces"})
    assert doc is not None
    store.db[PAYLOAD_CHUNKS].delete_one({"raw_id": doc["_id"], "n": 1})

    with pytest.raises(SinkError) as failure:
        store.payload_json(doc)
    assert str(failure.value) == f"raw version {doc['_id']} names 3 payload pieces, 2 are stored"


def test_raw_store_purge_removes_pieces_of_purged_versions_only(
    store: RawStore, small_payload_limits: None
) -> None:
    old = _note_payload("c-old", 5_000)
    new = _note_payload("c-new", 5_000)
    store.land([_row(old, "2026-10-01T10:02:00.000Z", "2026-10-01T10:02:01.000Z",
                     entity="c-old")], 1)  # fmt: skip
    store.land([_row(new, "2026-12-04T10:02:00.000Z", "2026-12-04T10:02:01.000Z",
                     entity="c-new")], 2)  # fmt: skip
    cutoff = datetime(2026, 11, 1, tzinfo=UTC)

    assert store.purge_older_than(cutoff, dry_run=True)[PAYLOAD_CHUNKS] == 3
    assert store.purge_older_than(cutoff)[PAYLOAD_CHUNKS] == 3

    remaining = {doc["raw_id"].split(":")[0] for doc in store.db[PAYLOAD_CHUNKS].find()}
    assert remaining == {"c-new"}
    assert store.db[PAYLOAD_CHUNKS].count_documents({}) == 3


def test_raw_store_settling_conversation_is_due_only_at_its_due_time(store: RawStore) -> None:
    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    store.watch(
        {"c-a": "agent wrap-up missing", "c-b": "settling", "c-c": "not ended"},
        now,
        {"c-b": now + timedelta(minutes=5)},
    )

    before = set(store.watched_ids(10, now + timedelta(minutes=4)))
    at_due_time = set(store.watched_ids(10, now + timedelta(minutes=5)))
    store.watch({"c-b": "agent wrap-up missing"}, now)  # reopened: fetched each batch again
    reopened = set(store.watched_ids(10, now))

    assert before == {"c-a", "c-c"}
    assert at_due_time == {"c-a", "c-b", "c-c"}
    assert reopened == {"c-a", "c-b", "c-c"}


def test_raw_store_watch_leaves_an_unchanged_entry_alone_unless_checked(store: RawStore) -> None:
    """A conversation still open for the same reason keeps its entry (no write); one just
    fetched by id is marked checked now, which orders the next fetches."""
    listed_at = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    later, latest = listed_at + timedelta(minutes=2), listed_at + timedelta(minutes=4)
    store.watch({"c-a": "not ended", "c-b": "not ended"}, listed_at)

    store.watch({"c-a": "not ended", "c-b": "agent wrap-up missing"}, later)
    store.watch({"c-a": "not ended"}, latest, checked=True)

    entries = {
        doc["_id"]: (doc["open_reason"], doc["last_checked_at"].isoformat())
        for doc in store.db[raw_store_module.WATCHLIST].find()
    }
    assert entries == {
        "c-a": ("not ended", "2026-12-04T10:04:00+00:00"),
        "c-b": ("agent wrap-up missing", "2026-12-04T10:02:00+00:00"),
    }
