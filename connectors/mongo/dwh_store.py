"""The DWH layer: star-schema collections written through the MongoDB Spark Connector.

Every document has a deterministic `_id` (the business key) and carries the SHA-256 of its
content (`etl_content_sha256`, every field but the write stamps). A write inserts documents the
collection lacks, replaces those whose content changed and leaves the rest alone, so a replayed
batch adds nothing, re-curating an unchanged conversation costs no write, and
`etl_last_updated_at` says when the content last changed. Indexes, unknown members and system
wrap-up codes are set up once at start with pymongo.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, MongoClient
from pymongo.errors import PyMongoError
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from app.errors import SinkError
from connectors.mongo import WRITE_BATCH_SIZE
from jobs.star.dimensions import DIMENSIONS, SYSTEM_WRAPUP_CODES, UNKNOWN_KEY
from jobs.transforms.audit import TRANSFORM_VERSION

log = logging.getLogger(__name__)

QUARANTINE = "quarantine"
# One control document per curate batch: which raw batch the DWH has reached, and its counts.
CURATE_BATCHES = "curate_batches"
# One document per curate batch and data-quality rule (jobs/quality.py): failures and samples.
DQ_RESULTS = "dq_results"
# Business keys besides `_id`, declared unique so that no code path can ever add a duplicate.
UNIQUE_KEYS: dict[str, list[str]] = {
    "fact_call": ["conversation_id"],
    "fact_call_skill": ["conversation_id", "skill_id"],
    **{spec.collection: [spec.key_column] for spec in DIMENSIONS},
}
SECONDARY_INDEXES: dict[str, list[str]] = {
    "fact_call": ["date_key", "last_queue_key", "agent_key", "state"],
    "fact_call_skill": ["skill_key", "date_key"],
    QUARANTINE: ["curate_batch", "endpoint"],
}

# The SHA-256 of a document's content, compared before writing it again.
CONTENT_HASH = "etl_content_sha256"
# Audit fields that say when and by which batch a document was written: not content.
WRITE_STAMPS = ("etl_last_updated_at", "etl_batch")
# `_id`s per `$in` query when reading stored content hashes (see raw_store.READ_CHUNK).
HASH_READ_CHUNK = 2000


def write_changes(frame: DataFrame, uri: str, database: str, collection: str) -> dict[str, int]:
    """Insert the rows of `frame` that `collection` lacks and replace those whose content
    changed (connector writes); rows whose content is stored already are not written.

    Returns how many documents were inserted, replaced and left unchanged.

    Raises:
        SinkError: reading the stored hashes or a connector write failed; the batch fails and
            is redone on restart, when what this one wrote counts as stored.
    """
    content = sorted(c for c in frame.columns if c not in (*WRITE_STAMPS, CONTENT_HASH))
    hashed = frame.withColumn(CONTENT_HASH, F.sha2(F.to_json(F.struct(*content)), 256)).persist()
    try:
        rows = hashed.select("_id", CONTENT_HASH).collect()
        computed = {row["_id"]: row[CONTENT_HASH] for row in rows}
        store = DwhStore(uri, database)
        try:
            stored = store.content_hashes(collection, list(computed))
        finally:
            store.close()
        new = [key for key in computed if key not in stored]
        changed = [key for key in computed if key in stored and stored[key] != computed[key]]
        if len(rows) > len(computed):
            # Duplicate keys should have gone to quarantine; if one slips through, replacing
            # keeps the batch alive where inserting it twice would fail it on every retry.
            doubled = {key for key, n in Counter(row["_id"] for row in rows).items() if n > 1}
            new = [key for key in new if key not in doubled]
            changed = sorted(set(changed) | doubled)
        # Inserts need no lookup on any server; FerretDB scans the collection per replace.
        for ids, operation in ((new, "insert"), (changed, "replace")):
            if ids:
                subset = hashed.filter(F.col("_id").isin(ids))
                _write(subset, uri, database, collection, operation=operation, upsert=True)
    finally:
        hashed.unpersist()
    return {
        "inserted": len(new),
        "replaced": len(changed),
        "unchanged": len(computed) - len(new) - len(changed),
    }


def write_upserts(frame: DataFrame, uri: str, database: str, collection: str) -> None:
    """Replace-or-insert every row of `frame` into `collection` by `_id` (connector write).

    Raises:
        SinkError: the connector failed; the batch fails and is redone on restart.
    """
    _write(frame, uri, database, collection, operation="replace", upsert=True)


def write_updates(frame: DataFrame, uri: str, database: str, collection: str) -> None:
    """Set the columns of `frame` on the documents of `collection` with its `_id`s, leaving
    their other fields as they are; an `_id` the collection lacks is skipped, not inserted.

    The content hash is cleared: the documents no longer hold what it was computed from, and
    the next `write_changes` of them must write.

    Raises:
        SinkError: the connector failed; the batch fails and is redone on restart.
    """
    cleared = frame.withColumn(CONTENT_HASH, F.lit(None).cast("string"))
    _write(cleared, uri, database, collection, operation="update", upsert=False)


def _write(
    frame: DataFrame, uri: str, database: str, collection: str, *, operation: str, upsert: bool
) -> None:
    try:
        (
            frame.write.format("mongodb")
            .mode("append")
            .option("connection.uri", uri)
            .option("database", database)
            .option("collection", collection)
            .option("operationType", operation)
            .option("idFieldList", "_id")
            .option("upsertDocument", str(upsert).lower())
            .option("ordered", "false")
            .option("maxBatchSize", str(WRITE_BATCH_SIZE))
            .save()
        )
    except Exception as error:  # py4j and Spark wrap the driver's errors in many types
        raise SinkError(f"{operation} into {database}.{collection} failed: {error}") from error


class DwhStore:
    """Driver-side access to the DWH for set-up and small lookups."""

    def __init__(self, uri: str, database: str) -> None:
        self.client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
        self.db = self.client[database]

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def ensure_schema(self) -> None:
        """Create unique and lookup indexes and the fixed members (idempotent)."""
        try:
            for collection, keys in UNIQUE_KEYS.items():
                self.db[collection].create_index(
                    [(key, ASCENDING) for key in keys], unique=True, name="business_key"
                )
            for collection, keys in SECONDARY_INDEXES.items():
                for key in keys:
                    self.db[collection].create_index([(key, ASCENDING)])
            self._ensure_fixed_members()
        except PyMongoError as error:
            raise SinkError(f"cannot set up the DWH schema: {error}") from error

    def _ensure_fixed_members(self) -> None:
        now = datetime.now(UTC)
        audit = {
            "etl_first_loaded_at": now,
            "etl_last_updated_at": now,
            "etl_batch": "",
            "etl_raw_version": None,
            "etl_transform_version": TRANSFORM_VERSION,
        }
        for spec in DIMENSIONS:
            member = {spec.key_column: UNKNOWN_KEY, "name": "Unknown", "is_unknown": True}
            self._upsert_fixed(spec.collection, UNKNOWN_KEY, member, audit)
        for code, name in SYSTEM_WRAPUP_CODES.items():
            member = {"wrapup_code_id": code, "name": name, "is_unknown": False, "is_system": True}
            self._upsert_fixed("dim_wrapup_code", code, member, audit)

    def _upsert_fixed(
        self, collection: str, key: str, member: dict[str, Any], audit: dict[str, Any]
    ) -> None:
        # $setOnInsert keeps the first load time of members that already exist.
        self.db[collection].update_one(
            {"_id": key}, {"$setOnInsert": {**member, **audit}}, upsert=True
        )

    def known_ids(self, collection: str) -> list[str]:
        """The `_id`s of a dimension, for resolving fact references to known members."""
        return [str(doc["_id"]) for doc in self.db[collection].find({}, {"_id": 1})]

    def content_hashes(self, collection: str, ids: list[str]) -> dict[str, str | None]:
        """The stored content hash of each of `ids` that `collection` holds (None if unknown).

        Raises:
            SinkError: the server failed.
        """
        hashes: dict[str, str | None] = {}
        try:
            for first in range(0, len(ids), HASH_READ_CHUNK):
                chunk = ids[first : first + HASH_READ_CHUNK]
                for doc in self.db[collection].find({"_id": {"$in": chunk}}, {CONTENT_HASH: 1}):
                    hashes[str(doc["_id"])] = doc.get(CONTENT_HASH)
        except PyMongoError as error:
            raise SinkError(f"cannot read the content hashes of {collection}: {error}") from error
        return hashes

    def source_states(self, collection: str) -> list[tuple[str, bool | None, datetime | None]]:
        """(`_id`, `in_source`, `removed_from_source_at`) of a dimension's members built from a
        listing; the fixed members (unknown, system wrap-up codes) are never judged."""
        query = {"is_unknown": {"$ne": True}, "is_system": {"$ne": True}}
        fields = {"in_source": 1, "removed_from_source_at": 1}
        try:
            return [
                (str(doc["_id"]), doc.get("in_source"), doc.get("removed_from_source_at"))
                for doc in self.db[collection].find(query, fields)
            ]
        except PyMongoError as error:
            raise SinkError(f"cannot read the source states of {collection}: {error}") from error

    def correct_unknown_references(
        self, fact: str, references: dict[str, tuple[str, str]], corrected_at: datetime
    ) -> dict[str, int]:
        """Point facts at members that arrived after them: returns facts corrected per key.

        `references` maps a fact's id column to (its key column, its dimension). A fact whose
        key is `unknown` although its id column holds an id now known to the dimension gets the
        id as key. Only the ids such facts hold are looked up, so a batch without late members
        costs one small query per reference.
        """
        corrected: dict[str, int] = {}
        try:
            for column, (key, dimension) in references.items():
                waiting = self.db[fact].distinct(column, {key: UNKNOWN_KEY, column: {"$ne": None}})
                arrived = [
                    doc["_id"]
                    for doc in self.db[dimension].find({"_id": {"$in": waiting}}, {"_id": 1})
                ]
                fixed = 0
                for member in arrived:
                    fixed += (
                        self.db[fact]
                        .update_many(
                            {column: member, key: UNKNOWN_KEY},
                            {
                                "$set": {key: member, "etl_last_updated_at": corrected_at},
                                # Content changed here, not by write_changes: rewrite next time.
                                "$unset": {CONTENT_HASH: ""},
                            },
                        )
                        .modified_count
                    )
                if fixed:
                    corrected[key] = fixed
        except PyMongoError as error:
            raise SinkError(f"cannot correct unknown references of {fact}: {error}") from error
        return corrected

    def mark_curated(
        self, land_seq: int, batch_key: str, counts: dict[str, int], curated_at: datetime
    ) -> None:
        """Record that the DWH holds everything landed up to `land_seq` (raw batch `batch_key`)."""
        document = {
            "_id": land_seq,
            "raw_batch": batch_key,
            "curated_at": curated_at,
            "raw_versions": counts,
        }
        try:
            self.db[CURATE_BATCHES].replace_one({"_id": land_seq}, document, upsert=True)
        except PyMongoError as error:
            raise SinkError(f"cannot record curate batch {batch_key}: {error}") from error

    def record_dq_results(self, documents: list[dict[str, Any]]) -> None:
        """Store the data-quality results of a curate batch (replaced by `_id` on a re-run)."""
        try:
            for document in documents:
                self.db[DQ_RESULTS].replace_one({"_id": document["_id"]}, document, upsert=True)
        except PyMongoError as error:
            raise SinkError(f"cannot record data-quality results: {error}") from error

    def curated_through(self, land_seq: int) -> bool:
        """Whether a curate batch has reached landing `land_seq`."""
        found = self.db[CURATE_BATCHES].find_one({"_id": {"$gte": land_seq}}, {"_id": 1})
        return found is not None
