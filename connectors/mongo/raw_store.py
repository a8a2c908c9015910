"""The raw layer: API payloads as the API returned them, versioned, plus batch markers.

Each endpoint has its own collection. A document's `_id` is the entity id and the SHA-256 of its
canonical JSON: fetching an identical payload again only moves `last_seen_*`, a changed payload
adds a version. Every capture batch has a landing sequence number, written on each document it
touches (`landed_seq`, new versions and re-seen ones alike); after the batch's writes, a marker in
`ingest_batches` records the batch and its sequence as complete. The curate query follows the
sequence, not the window, so re-capturing an old range (a lost capture checkpoint, a backfill)
is curated again too.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Binary
from pymongo import ASCENDING, MongoClient, UpdateOne
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from app.config import parse_instant
from app.errors import SinkError
from connectors.mongo import WRITE_BATCH_SIZE

log = logging.getLogger(__name__)

MARKERS = "ingest_batches"
CAPTURE_WINDOWS = "capture_windows"
# Conversations seen open, fetched again by id until final (jobs/watchlist.py).
WATCHLIST = "watchlist"
CONTROL_ENDPOINT = "_control"
# The capture pass whose already-stored versions are not landed again (connectors/genesys).
SWEEP_PASS = "sweep"
# One summary per capture batch: interval, passes, requests, retries, 429s, watermark, lag.
CAPTURE_CONTROL = "capture_control"
# Payloads above this many bytes of JSON are stored gzip-compressed: MongoDB refuses documents
# above 16 MiB, and a conversation with thousands of segments or long notes can come close.
INLINE_PAYLOAD_LIMIT = 4 * 1024 * 1024
# A compressed payload above this is cut into pieces kept in PAYLOAD_CHUNKS (`n` = order).
CHUNK_SIZE = 4 * 1024 * 1024
PAYLOAD_CHUNKS = "payload_chunks"
RAW_ENDPOINTS = ("conversations", "users", "queues", "skills", "wrapup_codes", "divisions")
# Ids per `$in` query when reading versions back: a curate task's entities
# (ENTITIES_PER_PARTITION) in one query. MongoDB looks each id up in the index; FerretDB reads
# the whole collection once per query, whatever the number of ids (measured: 500 or 1,000 ids
# cost the same), so fewer, larger queries are what keeps it fast.
READ_CHUNK = 2000
# Versions per `update_many` of sightings: the size measured safe on FerretDB (see
# docs/architecture.md, "Bulks of 12 updates, 500 inserts").
SIGHTINGS_PER_UPDATE = 500
# Raw versions per `insert_many`. Inserts are cheap on every server, so larger than
# WRITE_BATCH_SIZE, which bounds updates; pymongo splits a batch above the message size limit.
INSERT_BATCH_SIZE = 500
# MongoDB's code for a duplicate key.
DUPLICATE_KEY = 11000
# A conversation version seen again moves `last_seen_*` at most this often when nothing else
# about it changed: retention counts in days, and each sighting written costs an update.
SIGHTING_REFRESH = timedelta(hours=1)
# The TTL index of raw retention, by name, so that it can be changed or dropped again.
RETENTION_INDEX = "raw_retention_ttl"
# MongoDB's answers when an index of that name exists with other options.
_INDEX_OPTIONS_CONFLICT = (85, 86)


def payload_sha256(payload: Any) -> str:
    """The SHA-256 of a payload's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def unstorable_key(value: Any) -> str | None:
    """The first key MongoDB-wire servers may refuse (`.` inside or a leading `$`), or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            if "." in key or key.startswith("$"):
                return key
            found = unstorable_key(item)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = unstorable_key(item)
            if found is not None:
                return found
    return None


def raw_version_id(entity_id: str, payload: Any) -> str:
    """The `_id` of a raw version: the entity id and the SHA-256 of the payload."""
    return f"{entity_id or 'no-id'}:{payload_sha256(payload)}"


def raw_documents(row: dict[str, Any], land_seq: int) -> list[tuple[str, dict[str, Any]]]:
    """The documents one captured payload row stores: (collection, document) pairs, complete as
    a first sighting would insert them.

    Usually one, into the endpoint's collection. A payload too large to store inline also
    stores its compressed pieces into `payload_chunks`, listed before the document naming them.
    """
    text = row["payload"]
    payload = json.loads(text)
    digest = payload_sha256(payload)
    fetched_at = parse_instant(row["fetched_at"])
    # A record without an id keeps "" as its entity id, so that the curate step reads it back
    # (and quarantines it) instead of it waiting forever under a null key.
    entity_id = row["entity_id"] or ""
    raw_id = raw_version_id(entity_id, payload)
    document: dict[str, Any] = {
        "_id": raw_id,
        "entity_id": entity_id,
        "endpoint": row["endpoint"],
        "payload_sha256": digest,
        "window_start": row["window_start"],
        "window_end": row["window_end"],
        "first_seen_at": fetched_at,
        "ingest_batch": row["batch_key"],
        "last_seen_at": fetched_at,
        "last_seen_batch": row["batch_key"],
        "landed_seq": land_seq,
    }
    documents: list[tuple[str, dict[str, Any]]] = []
    encoded = text.encode("utf-8")
    bad_key = unstorable_key(payload)
    if len(encoded) > INLINE_PAYLOAD_LIMIT:
        compressed = gzip.compress(encoded, mtime=0)
        document["payload_stored_compressed_because"] = (
            f"{len(encoded)} bytes of JSON, above the inline limit of {INLINE_PAYLOAD_LIMIT}"
        )
        if len(compressed) <= CHUNK_SIZE:
            document["payload_gzip"] = Binary(compressed)
        else:
            pieces = [
                compressed[at : at + CHUNK_SIZE] for at in range(0, len(compressed), CHUNK_SIZE)
            ]
            document["payload_chunk_count"] = len(pieces)
            documents += [
                (
                    PAYLOAD_CHUNKS,
                    {
                        "_id": f"{raw_id}#{number}",
                        "raw_id": raw_id,
                        "n": number,
                        "data": Binary(piece),
                    },
                )
                for number, piece in enumerate(pieces)
            ]
    elif bad_key is None:
        document["payload"] = payload
    else:
        # Kept as text rather than reshaped: the raw layer never loses or edits a record.
        document["payload_text"] = text
        document["payload_stored_as_text_because"] = f"key {bad_key!r} is not storable"
    documents.append((row["endpoint"], document))
    return documents


def control_document(row: dict[str, Any]) -> dict[str, Any]:
    """The control record of one partition of a capture window (requests, pages, records...)."""
    stats = json.loads(row["payload"])
    return {
        "_id": f"{row['batch_key']}|{stats['endpoint']}|{stats['interval_start']}",
        "batch_key": row["batch_key"],
        "window_start": row["window_start"],
        "window_end": row["window_end"],
        "recorded_at": parse_instant(row["fetched_at"]),
        **stats,
    }


def already_stored(error: BulkWriteError) -> list[dict[str, Any]]:
    """The documents an unordered `insert_many` refused because their `_id` is stored already.

    Any other write error is re-raised: only a duplicate `_id` means "seen before".
    """
    write_errors = error.details.get("writeErrors", [])
    if not write_errors or any(e.get("code") != DUPLICATE_KEY for e in write_errors):
        raise error
    return [e["op"] for e in write_errors]


def sightings(documents: list[dict[str, Any]]) -> dict[tuple[Any, str, int], list[str]]:
    """Raw versions seen again, grouped by sighting (fetch instant, batch, landing) to `_id`s.

    A capture partition stamps every record of an API page with the same fetch instant, so a
    landing has a few sightings, and each is one `update_many` instead of one update per
    version.
    """
    groups: dict[tuple[Any, str, int], list[str]] = {}
    for document in documents:
        key = (document["last_seen_at"], document["last_seen_batch"], document["landed_seq"])
        groups.setdefault(key, []).append(document["_id"])
    return groups


def sighting_matters(
    sighting: dict[str, Any],
    stored: dict[str, Any],
    versions: Iterable[dict[str, Any]],
    completed_seq: int,
) -> bool:
    """Whether a conversation version seen again must be recorded (`last_seen_*`, `landed_seq`).

    `stored` is the version as stored, `versions` every stored version of the conversation
    (`_id`, `last_seen_at`), `completed_seq` the newest complete landing. A version seen again
    right after its last sighting (the minute two windows overlap, a watchlist fetch of an
    unchanged conversation) changes nothing the curate step reads, so it is not written, unless
    - another version was seen after it: the API went back to it, and the curate step breaks
      ties between equally complete versions by the latest sighting;
    - only a landing that never completed stored it: this landing must name it;
    - its last recorded sighting is `SIGHTING_REFRESH` old, or its first one later than this.
    """
    if int(stored.get("landed_seq") or 0) > completed_seq:
        return True
    if not stored.get("first_seen_at") or any(not v.get("last_seen_at") for v in versions):
        return True  # a version without sighting times cannot be ranked: write, as before
    seen_at = sighting["last_seen_at"]
    if seen_at - stored["last_seen_at"] >= SIGHTING_REFRESH or seen_at < stored["first_seen_at"]:
        return True
    newest = max(versions, key=lambda version: (version["last_seen_at"], str(version["_id"])))
    return newest["_id"] != stored["_id"]


class RawStore:
    """Reads and writes the raw database; one per process (pymongo clients are not picklable)."""

    def __init__(self, uri: str, database: str) -> None:
        self.client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
        self.db = self.client[database]

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def ensure_indexes(self) -> None:
        """Create the indexes the capture and curate queries rely on (idempotent)."""
        try:
            for name in RAW_ENDPOINTS:
                collection = self.db[name]
                collection.create_index([("entity_id", ASCENDING)])
                collection.create_index([("landed_seq", ASCENDING)])
            self.db[CAPTURE_WINDOWS].create_index([("batch_key", ASCENDING)])
            self.db[MARKERS].create_index([("land_seq", ASCENDING)])
            self.db[PAYLOAD_CHUNKS].create_index([("raw_id", ASCENDING)])
        except PyMongoError as error:
            raise SinkError(f"cannot create raw-layer indexes: {error}") from error

    def ensure_retention(self, days: int) -> list[str]:
        """Expire raw versions not seen for `days` days with a TTL index on `last_seen_at`.

        `days == 0` means keep forever: a retention index left by an earlier setting is
        dropped. Returns the endpoint collections where the server refused the TTL index
        (FerretDB does not implement TTL); the caller must then schedule `purge-raw`.
        """
        refused: list[str] = []
        for name in RAW_ENDPOINTS:
            collection = self.db[name]
            try:
                if days == 0:
                    if RETENTION_INDEX in collection.index_information():
                        collection.drop_index(RETENTION_INDEX)
                    continue
                seconds = days * 86_400
                try:
                    collection.create_index(
                        [("last_seen_at", ASCENDING)],
                        name=RETENTION_INDEX,
                        expireAfterSeconds=seconds,
                    )
                except OperationFailure as error:
                    if error.code not in _INDEX_OPTIONS_CONFLICT:
                        raise
                    # The retention changed since the index was made: change it in place.
                    self.db.command(
                        "collMod",
                        name,
                        index={"name": RETENTION_INDEX, "expireAfterSeconds": seconds},
                    )
            except OperationFailure:
                refused.append(name)
        return refused

    def purge_older_than(self, cutoff: datetime, *, dry_run: bool = False) -> dict[str, int]:
        """Delete raw versions last seen before `cutoff`, and older capture control records.

        Returns the number of documents deleted (or, with `dry_run`, that would be) per
        collection. Completion markers are kept: they are small, and the curate query plans
        from them.
        """
        queries = {name: {"last_seen_at": {"$lt": cutoff}} for name in RAW_ENDPOINTS}
        queries[CAPTURE_WINDOWS] = {"recorded_at": {"$lt": cutoff}}
        queries[CAPTURE_CONTROL] = {"recorded_at": {"$lt": cutoff}}
        counts: dict[str, int] = {}
        try:
            for name, query in queries.items():
                if dry_run:
                    counts[name] = self.db[name].count_documents(query)
                else:
                    counts[name] = self.db[name].delete_many(query).deleted_count
            counts[PAYLOAD_CHUNKS] = self._purge_unowned_chunks(cutoff, dry_run=dry_run)
        except PyMongoError as error:
            raise SinkError(f"raw purge failed: {type(error).__name__}: {error}") from error
        return counts

    def _purge_unowned_chunks(self, cutoff: datetime, *, dry_run: bool) -> int:
        """Pieces of large payloads whose raw version is gone (purged now, or expired by a TTL
        index, which cannot follow the pieces)."""
        doomed = []
        for raw_id in self.db[PAYLOAD_CHUNKS].distinct("raw_id"):
            owner = None
            for name in RAW_ENDPOINTS:
                owner = self.db[name].find_one({"_id": raw_id}, {"last_seen_at": 1})
                if owner is not None:
                    break
            # In a dry run the owners are still there: count those the purge would delete.
            if owner is None or (dry_run and owner["last_seen_at"] < cutoff):
                doomed.append(raw_id)
        query = {"raw_id": {"$in": doomed}}
        if dry_run:
            return self.db[PAYLOAD_CHUNKS].count_documents(query)
        return self.db[PAYLOAD_CHUNKS].delete_many(query).deleted_count if doomed else 0

    def land(self, rows: Iterable[dict[str, Any]], land_seq: int) -> Counter[str]:
        """Store captured rows (payloads and control rows); return counts per endpoint.

        Rows of the sweep pass whose version is already stored are not written (counted as
        `sweep_unchanged`): a sweep re-reads hours of conversations that are mostly final, and
        re-marking each of them would have the curate query rebuild them all for nothing. A
        conversation version seen again whose sighting changes nothing is not written either
        (counted as `conversations_seen_unchanged`, see `sighting_matters`).
        """
        counts: Counter[str] = Counter()
        pending: dict[str, list[dict[str, Any]]] = {}
        seen_again: dict[str, list[dict[str, Any]]] = {}

        def store(collection: str) -> None:
            documents = pending.pop(collection)
            seen_again.setdefault(collection, []).extend(self._insert_new(collection, documents))

        try:
            for row in self._new_sweep_versions(rows, counts):
                if row["endpoint"] == CONTROL_ENDPOINT:
                    document = control_document(row)
                    self.db[CAPTURE_WINDOWS].replace_one(
                        {"_id": document["_id"]}, document, upsert=True
                    )
                    continue
                counts[row["endpoint"]] += 1
                for collection, document in raw_documents(row, land_seq):
                    pending.setdefault(collection, []).append(document)
                    # Pieces first: a document must never name pieces that are not stored.
                    if (
                        collection == PAYLOAD_CHUNKS
                        or len(pending[collection]) >= INSERT_BATCH_SIZE
                    ):
                        store(collection)
            for collection in list(pending):
                store(collection)
            # After every insert of the landing, so that a version seen again is compared
            # with the versions this landing added.
            for collection, documents in seen_again.items():
                self._record_sightings(collection, documents, counts)
        except PyMongoError as error:
            raise SinkError(f"raw landing failed: {type(error).__name__}: {error}") from error
        return counts

    def _insert_new(self, collection: str, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert new versions; return the documents whose version is stored already.

        Inserting first is what makes landing cheap: most versions of a window are new, an
        insert needs no lookup, and a version another writer stored a moment before (two
        partitions returning the same conversation) simply comes back as a duplicate.
        """
        try:
            self.db[collection].insert_many(documents, ordered=False)
            return []
        except BulkWriteError as error:
            seen_again = already_stored(error)
        if collection == PAYLOAD_CHUNKS:
            return []  # a piece's `_id` names its version and place: stored means identical
        return seen_again

    def _record_sightings(
        self, collection: str, documents: list[dict[str, Any]], counts: Counter[str]
    ) -> None:
        """Record that stored versions were seen again, one `update_many` per sighting.

        A sighting moves `last_seen_*` forward and `first_seen_*` back ($max/$min keep them
        right when an older batch is replayed after a newer one) and marks the version landed
        again, so that the curate query reads its entity. Conversations, the bulk of every
        window, write only the sightings that change something; the dimensions write all of
        them, because the curate step tells a member missing from a listing by its `landed_seq`.
        """
        if collection == "conversations":
            matter = self._sightings_that_matter(collection, documents)
            if len(matter) < len(documents):
                counts["conversations_seen_unchanged"] += len(documents) - len(matter)
            documents = matter
        for (seen_at, batch_key, land_seq), ids in sightings(documents).items():
            for first in range(0, len(ids), SIGHTINGS_PER_UPDATE):
                self.db[collection].update_many(
                    {"_id": {"$in": ids[first : first + SIGHTINGS_PER_UPDATE]}},
                    {
                        "$min": {"first_seen_at": seen_at, "ingest_batch": batch_key},
                        "$max": {"last_seen_at": seen_at, "last_seen_batch": batch_key},
                        "$set": {"landed_seq": land_seq},
                    },
                )

    def _sightings_that_matter(
        self, collection: str, documents: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The sightings of `documents` that `sighting_matters` says must be written."""
        latest = self.latest_landing()
        completed_seq = latest[0] if latest else 0
        entity_ids = sorted({document["entity_id"] for document in documents})
        versions: dict[str, list[dict[str, Any]]] = {}
        fields = {"entity_id": 1, "first_seen_at": 1, "last_seen_at": 1, "landed_seq": 1}
        for first in range(0, len(entity_ids), READ_CHUNK):
            chunk = entity_ids[first : first + READ_CHUNK]
            for version in self.db[collection].find({"entity_id": {"$in": chunk}}, fields):
                versions.setdefault(version["entity_id"], []).append(version)
        matter = []
        for document in documents:
            of_entity = versions.get(document["entity_id"], [])
            stored = next((v for v in of_entity if v["_id"] == document["_id"]), None)
            # A version gone since the insert refused it (purged meanwhile) is written: the
            # update then matches nothing, as it would have without this check.
            if stored is None or sighting_matters(document, stored, of_entity, completed_seq):
                matter.append(document)
        return matter

    def _new_sweep_versions(
        self, rows: Iterable[dict[str, Any]], counts: Counter[str]
    ) -> Iterator[dict[str, Any]]:
        """The rows, less the sweep's rows whose raw version a complete landing stored (looked
        up by chunks).

        A version stored only by a failed run of a batch is landed again: its `landed_seq` must
        name the run that completes the batch, whose watchlist follows what that landing holds.
        """
        chunk: list[tuple[str, dict[str, Any]]] = []
        completed: list[int] = []  # the newest complete landing, read at the first sweep row
        for row in rows:
            if row.get("capture_pass") != SWEEP_PASS:
                yield row
                continue
            try:
                raw_id = raw_version_id(row["entity_id"] or "", json.loads(row["payload"]))
            except ValueError:
                yield row  # not JSON: the normal path lands it (or fails) as it would any row
                continue
            if not completed:
                latest = self.latest_landing()
                completed.append(latest[0] if latest else 0)
            chunk.append((raw_id, row))
            if len(chunk) >= READ_CHUNK:
                yield from self._unknown_versions(chunk, counts, completed[0])
                chunk = []
        if chunk:
            yield from self._unknown_versions(chunk, counts, completed[0])

    def _unknown_versions(
        self, chunk: list[tuple[str, dict[str, Any]]], counts: Counter[str], completed: int
    ) -> Iterator[dict[str, Any]]:
        by_endpoint: dict[str, list[str]] = {}
        for raw_id, row in chunk:
            by_endpoint.setdefault(row["endpoint"], []).append(raw_id)
        stored: set[str] = set()
        for endpoint, ids in by_endpoint.items():
            found = self.db[endpoint].find({"_id": {"$in": ids}}, {"_id": 1, "landed_seq": 1})
            stored |= {doc["_id"] for doc in found if doc.get("landed_seq", 0) <= completed}
        for raw_id, row in chunk:
            if raw_id in stored:
                counts["sweep_unchanged"] += 1
            else:
                yield row

    def next_land_seq(self) -> int:
        """Driver: a sequence number above every landing so far (milliseconds since epoch when
        the clock allows, so it also tells when the batch landed)."""
        newest = self.db[MARKERS].find_one({}, {"land_seq": 1}, sort=[("land_seq", -1)])
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        return max(now_ms, (newest or {}).get("land_seq", 0) + 1)

    def mark_complete(
        self, batch_key: str, land_seq: int, counts: dict[str, int], window: dict[str, Any]
    ) -> None:
        """Record that every payload of `batch_key`, landed as `land_seq`, is in the raw layer."""
        marker = {
            "_id": batch_key,
            "land_seq": land_seq,
            "completed_at": datetime.now(UTC),
            "counts": counts,
            **window,
        }
        try:
            self.db[MARKERS].replace_one({"_id": batch_key}, marker, upsert=True)
        except PyMongoError as error:
            raise SinkError(f"cannot mark raw batch {batch_key} complete: {error}") from error

    def record_capture_control(self, summary: dict[str, Any]) -> None:
        """Write (or, for a re-run batch, replace) the capture control record of a batch."""
        try:
            self.db[CAPTURE_CONTROL].replace_one({"_id": summary["_id"]}, summary, upsert=True)
        except PyMongoError as error:
            raise SinkError(
                f"cannot record capture control of batch {summary['_id']}: {error}"
            ) from error

    def latest_landing(self) -> tuple[int, str] | None:
        """The newest complete landing as (land_seq, batch key), or None before the first."""
        newest = self.db[MARKERS].find_one({}, {"land_seq": 1}, sort=[("land_seq", -1)])
        return None if newest is None else (int(newest["land_seq"]), str(newest["_id"]))

    def landing_of(self, batch_key: str) -> int | None:
        """The sequence number the batch `batch_key` last landed with, if it is complete."""
        marker = self.db[MARKERS].find_one({"_id": batch_key}, {"land_seq": 1})
        return None if marker is None else int(marker["land_seq"])

    def touched_entity_ids(self, endpoint: str, after_seq: int, upto_seq: int) -> list[str]:
        """Ids of entities with a version written or seen again by landings (after, upto]."""
        query = {"landed_seq": {"$gt": after_seq, "$lte": upto_seq}}
        return sorted({doc["entity_id"] for doc in self.db[endpoint].find(query, {"entity_id": 1})})

    def watch(
        self,
        open_ids: dict[str, str],
        now: datetime,
        due_at: dict[str, datetime] | None = None,
        *,
        checked: bool = False,
    ) -> None:
        """List (or keep listing) conversations with why they are still open.

        A conversation in `due_at` is not fetched before that instant (`watched_ids`); the
        others are fetched by every batch. An entry already listed as it would be written is
        left alone, unless `checked` (the conversations were just fetched by id): most open
        conversations of a window were open in the previous one too, and each write is an
        update (a collection scan on FerretDB).
        """
        due_at = due_at or {}
        listed = {} if checked else self._watch_entries(list(open_ids))
        updates = []
        for conversation_id, reason in open_ids.items():
            entry = listed.get(conversation_id)
            if (
                entry is not None
                and entry.get("open_reason") == reason
                and entry.get("due_at") == due_at.get(conversation_id)
                and not entry.get("misses")
            ):
                continue
            fields = {"open_reason": reason, "last_checked_at": now, "misses": 0}
            change: dict[str, Any] = {"$set": fields, "$setOnInsert": {"listed_at": now}}
            if conversation_id in due_at:
                fields["due_at"] = due_at[conversation_id]
            else:
                change["$unset"] = {"due_at": ""}
            updates.append(UpdateOne({"_id": conversation_id}, change, upsert=True))
        for first in range(0, len(updates), WRITE_BATCH_SIZE):
            self.db[WATCHLIST].bulk_write(updates[first : first + WRITE_BATCH_SIZE], ordered=False)

    def _watch_entries(self, conversation_ids: list[str]) -> dict[str, dict[str, Any]]:
        entries = {}
        fields = {"open_reason": 1, "due_at": 1, "misses": 1}
        for first in range(0, len(conversation_ids), READ_CHUNK):
            chunk = conversation_ids[first : first + READ_CHUNK]
            for entry in self.db[WATCHLIST].find({"_id": {"$in": chunk}}, fields):
                entries[str(entry["_id"])] = entry
        return entries

    def unwatch(self, final_ids: list[str]) -> None:
        """Take final conversations off the watchlist."""
        if final_ids:
            self.db[WATCHLIST].delete_many({"_id": {"$in": final_ids}})

    def watched_ids(self, limit: int, now: datetime) -> list[str]:
        """Listed conversations to fetch at `now` (server time), those checked longest ago
        first."""
        query = {
            "given_up_at": {"$exists": False},
            "$or": [{"due_at": {"$exists": False}}, {"due_at": {"$lte": now}}],
        }
        found = self.db[WATCHLIST].find(query, {"_id": 1}).sort("last_checked_at", ASCENDING)
        return [str(doc["_id"]) for doc in found.limit(limit)]

    def watched_count(self) -> int:
        """How many conversations are listed and still followed."""
        return self.db[WATCHLIST].count_documents({"given_up_at": {"$exists": False}})

    def watch_missed(self, missing_ids: list[str], max_misses: int, now: datetime) -> list[str]:
        """Count a miss for conversations the API did not return; give up after `max_misses`.

        Returns the ids given up now; they stay listed with `given_up_at`.
        """
        if not missing_ids:
            return []
        self.db[WATCHLIST].update_many(
            {"_id": {"$in": missing_ids}}, {"$inc": {"misses": 1}, "$set": {"last_checked_at": now}}
        )
        query = {"_id": {"$in": missing_ids}, "misses": {"$gte": max_misses}}
        given_up = [str(doc["_id"]) for doc in self.db[WATCHLIST].find(query, {"_id": 1})]
        if given_up:
            self.db[WATCHLIST].update_many(
                {"_id": {"$in": given_up}}, {"$set": {"given_up_at": now}}
            )
        return given_up

    def payload_json(self, doc: dict[str, Any]) -> str | None:
        """The payload of a stored raw version as JSON text, however it was stored."""
        if "payload" in doc:
            return json.dumps(doc["payload"], ensure_ascii=False)
        if "payload_text" in doc:
            return str(doc["payload_text"])
        if "payload_gzip" in doc:
            return gzip.decompress(doc["payload_gzip"]).decode("utf-8")
        if "payload_chunk_count" in doc:
            pieces = list(self.db[PAYLOAD_CHUNKS].find({"raw_id": doc["_id"]}).sort("n", ASCENDING))
            if len(pieces) != doc["payload_chunk_count"]:
                raise SinkError(
                    f"raw version {doc['_id']} names {doc['payload_chunk_count']} payload "
                    f"pieces, {len(pieces)} are stored"
                )
            return gzip.decompress(b"".join(piece["data"] for piece in pieces)).decode("utf-8")
        return None

    def versions(self, endpoint: str, entity_ids: list[str]) -> Iterator[dict[str, Any]]:
        """Every stored version of the given entities, so that curating is order-independent."""
        for first in range(0, len(entity_ids), READ_CHUNK):
            chunk = entity_ids[first : first + READ_CHUNK]
            yield from self.db[endpoint].find({"entity_id": {"$in": chunk}})
