"""The `genesys_raw` streaming data source: completed raw batches, for the curate query.

Offsets are landing sequence numbers of completed capture batches. A batch (after, upto] yields
every stored version of each entity that a landing in that range wrote or saw again, so
the curate step picks the best version from the whole history, whatever order versions came in.
A replay is a fresh checkpoint: it starts from landing 0 and calls no API. A batch that reaches
complete dimension listings also says which entities each listing held, so that curate can flag
the members a listing no longer has.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.errors import PyMongoError
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.types import LongType, StringType, StructField, StructType

from app.errors import ConfigError, SinkError
from connectors.genesys.windows import format_instant
from connectors.mongo.raw_store import CAPTURE_WINDOWS, MARKERS, RAW_ENDPOINTS, RawStore

log = logging.getLogger(__name__)

# Entities per partition: each partition is one Spark task, so a replay of months spreads over
# many tasks instead of one huge read.
ENTITIES_PER_PARTITION = 2000
# The endpoint name of the one row per batch that only says which raw batch it reaches.
BATCH_MARKER = "_batch"
# Rows about complete dimension listings, not raw versions. A LISTING row is one listing:
# `raw_id` = its control record's `_id`, `entity_id` = the listed endpoint, `ingest_batch` =
# its batch key, `last_seen_at` = when it was fetched, `curate_seq` = the batch's landing as
# everywhere. A LISTED row is one entity and the newest listing of the batch that held it:
# `raw_id` = that listing's control record `_id`, `entity_id` = the raw entity id.
LISTING = "_listing"
LISTED = "_listed"
CONTROL_ROWS = (BATCH_MARKER, LISTING, LISTED)
LISTING_ENDPOINTS = tuple(endpoint for endpoint in RAW_ENDPOINTS if endpoint != "conversations")

RAW_VERSION_SCHEMA = StructType(
    [
        StructField("endpoint", StringType(), False),
        StructField("raw_id", StringType(), False),
        StructField("entity_id", StringType(), True),
        StructField("ingest_batch", StringType(), True),
        StructField("first_seen_at", StringType(), True),
        StructField("last_seen_at", StringType(), True),
        StructField("payload", StringType(), True),
        StructField("curate_batch", StringType(), False),
        StructField("curate_seq", LongType(), False),
    ]
)


@dataclass(frozen=True)
class CompleteListing:
    """A dimension listing landed whole by the run of its capture batch that completed it."""

    control_id: str
    endpoint: str
    land_seq: int
    fetched_at: str  # `recorded_at` of the control record: the Date of its last API response


@dataclass(frozen=True)
class RawPartition(InputPartition):
    """The stored versions of a group of entities of one endpoint, for one curate batch.

    A LISTING partition has no entity ids; it carries the complete listings of one endpoint.
    """

    endpoint: str
    entity_ids: tuple[str, ...]
    curate_batch: str
    curate_seq: int
    listings: tuple[CompleteListing, ...] = ()


def _instant_text(value: Any) -> str | None:
    return None if value is None else format_instant(value)


def complete_listings(store: RawStore, after: int, upto: int) -> list[CompleteListing]:
    """Driver: the dimension listings that landings (after, upto] hold whole, oldest first.

    A listing's control record is written once the API returned its last page, but possibly
    before its last payloads are upserted, and a re-run of a failed batch may not list again
    (jobs/capture.py, connectors/genesys/source.py). So a listing counts as complete only when
    the batch's marker, written by the run that completed the batch, counts as many records of
    the endpoint as the control record: that run then landed the listing. The control record
    must also count as many records as the `total` every page of the listing reported
    (`listed_total`): a listing whose pages disagreed, or that returned more or fewer entities
    than it said it held, may have skipped one across a page boundary. An empty listing leaves
    no count to compare and is never taken as complete.
    """
    try:
        markers = store.db[MARKERS].find(
            {"land_seq": {"$gt": after, "$lte": upto}},
            {"land_seq": 1, "counts": 1, "window_start": 1},
        )
        vouched = _vouched_listings(markers)
        controls = list(store.db[CAPTURE_WINDOWS].find({"_id": {"$in": sorted(vouched)}}))
    except PyMongoError as error:
        raise SinkError(
            f"cannot read the listings of landings ({after}, {upto}]: {error}"
        ) from error
    found = []
    for control in controls:
        endpoint, land_seq, records = vouched[control["_id"]]
        whole = control.get("listed_total", records) == records  # absent: captured before it
        if (control.get("endpoint"), control.get("records")) == (endpoint, records) and whole:
            fetched_at = format_instant(control["recorded_at"])
            found.append(CompleteListing(control["_id"], endpoint, land_seq, fetched_at))
    return sorted(found, key=lambda listing: (listing.fetched_at, listing.control_id))


def _vouched_listings(markers: Iterable[dict[str, Any]]) -> dict[str, tuple[str, int, int]]:
    """Control `_id` -> (endpoint, land_seq, records) of the listings the markers counted."""
    vouched = {}
    for marker in markers:
        counts = marker.get("counts") or {}
        for endpoint in LISTING_ENDPOINTS:
            if counts.get(endpoint) and marker.get("window_start"):
                # A listing partition's interval starts with its window (source.partitions).
                control_id = f"{marker['_id']}|{endpoint}|{marker['window_start']}"
                vouched[control_id] = (endpoint, int(marker["land_seq"]), int(counts[endpoint]))
    return vouched


def newest_listing_holding(
    listings: Sequence[CompleteListing], last_landed: int
) -> CompleteListing | None:
    """The newest listing (by fetch time) of `listings` that held an entity last landed by
    landing `last_landed`, or None.

    A listing held the entity if a version of it was landed by the listing's landing or a later
    one: `landed_seq` only grows, so an entity a later landing saw again is never taken as
    missing from an earlier listing (it may be taken as present in one that had lost it, which
    only delays its flag to a listing that misses it).
    """
    held = [listing for listing in listings if listing.land_seq <= last_landed]
    return max(held, key=lambda listing: (listing.fetched_at, listing.control_id), default=None)


class RawStreamReader(DataSourceStreamReader):
    """Follows the batch markers of the raw layer on the driver; reads versions on executors."""

    def __init__(self, options: dict[str, str]) -> None:
        self.uri = options.get("connection.uri", "")
        self.database = options.get("database", "")
        if not self.uri or not self.database:
            raise ConfigError(
                ["the genesys_raw source needs the options connection.uri and database"]
            )
        self.start_after = int(options.get("start_after_seq", "0"))
        self._store: RawStore | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_store"] = None
        return state

    def _driver_store(self) -> RawStore:
        if self._store is None:
            self._store = RawStore(self.uri, self.database)
        return self._store

    def initialOffset(self) -> dict[str, int]:
        """Driver: before the first landing (or after `start_after_seq`, to skip history)."""
        return {"seq": self.start_after}

    def latestOffset(self) -> dict[str, int]:
        """Driver: the newest landing that has a completion marker."""
        latest = self._driver_store().latest_landing()
        return {"seq": latest[0] if latest else self.start_after}

    def partitions(self, start: dict[str, int], end: dict[str, int]) -> list[RawPartition]:
        """Driver: group the entities touched by landings (start, end] into tasks."""
        after, upto = int(start["seq"]), int(end["seq"])
        if upto <= after:
            return []
        store = self._driver_store()
        latest = store.latest_landing()
        # The audit "batch" of curated rows: the raw batch of the newest landing curated.
        batch_key = latest[1] if latest and latest[0] == upto else str(upto)
        parts = []
        for endpoint in RAW_ENDPOINTS:
            ids = store.touched_entity_ids(endpoint, after, upto)
            for first in range(0, len(ids), ENTITIES_PER_PARTITION):
                chunk = tuple(ids[first : first + ENTITIES_PER_PARTITION])
                parts.append(RawPartition(endpoint, chunk, batch_key, upto))
        listings = complete_listings(store, after, upto)
        for endpoint in LISTING_ENDPOINTS:
            mine = tuple(listing for listing in listings if listing.endpoint == endpoint)
            if mine:
                parts.append(RawPartition(LISTING, (), batch_key, upto, mine))
        # One marker task per batch, so the curate step always learns which landing it has
        # reached, even when no entity changed in it.
        parts.append(RawPartition(BATCH_MARKER, (), batch_key, upto))
        log.info("planned curate batch (%d, %d]: %d partitions", after, upto, len(parts))
        return parts

    def read(self, partition: RawPartition) -> Iterator[tuple[str | None, ...]]:
        """Executor: every stored version of the partition's entities, payload as JSON text."""
        if partition.endpoint == BATCH_MARKER:
            marker = (BATCH_MARKER, partition.curate_batch, None, None, None, None, None)
            yield (*marker, partition.curate_batch, partition.curate_seq)
            return
        if partition.endpoint == LISTING:
            yield from self._read_listings(partition)
            return
        store = RawStore(self.uri, self.database)
        try:
            for doc in store.versions(partition.endpoint, list(partition.entity_ids)):
                payload = store.payload_json(doc)
                yield (
                    partition.endpoint,
                    str(doc["_id"]),
                    doc.get("entity_id"),
                    doc.get("ingest_batch"),
                    _instant_text(doc.get("first_seen_at")),
                    _instant_text(doc.get("last_seen_at")),
                    payload,
                    partition.curate_batch,
                    partition.curate_seq,
                )
        finally:
            store.close()

    def _read_listings(self, partition: RawPartition) -> Iterator[tuple[str | None, ...]]:
        """Executor: one LISTING row per listing, one LISTED row per entity a listing held."""
        batch = (partition.curate_batch, partition.curate_seq)
        listings = partition.listings
        for listing in listings:
            row = (LISTING, listing.control_id, listing.endpoint, None, None, listing.fetched_at)
            yield (*row, None, *batch)
        endpoint = listings[0].endpoint
        oldest = min(listing.land_seq for listing in listings)
        store = RawStore(self.uri, self.database)
        try:
            # Unbounded above: an entity a later landing saw again must not look missing.
            found = store.db[endpoint].find(
                {"landed_seq": {"$gte": oldest}}, {"entity_id": 1, "landed_seq": 1}
            )
            last_landed: dict[str, int] = {}
            for doc in found:
                entity_id = str(doc.get("entity_id") or "")
                last_landed[entity_id] = max(int(doc["landed_seq"]), last_landed.get(entity_id, 0))
        except PyMongoError as error:
            raise SinkError(
                f"cannot read the entities of the {endpoint} listings: {error}"
            ) from error
        finally:
            store.close()
        for entity_id, landed in sorted(last_landed.items()):
            holding = newest_listing_holding(listings, landed)
            if holding is not None:
                yield (LISTED, holding.control_id, entity_id, None, None, None, None, *batch)

    def stop(self) -> None:
        """Driver: close the planning connection when the query ends."""
        if self._store is not None:
            self._store.close()


class RawDataSource(DataSource):
    """`spark.readStream.format("genesys_raw")`: raw versions of completed capture batches."""

    @classmethod
    def name(cls) -> str:
        return "genesys_raw"

    def schema(self) -> StructType:
        return RAW_VERSION_SCHEMA

    def streamReader(self, schema: StructType) -> RawStreamReader:
        return RawStreamReader(dict(self.options))
