"""The `genesys_raw` streaming data source: completed raw batches, for the curate query.

Offsets are landing sequence numbers of completed capture batches. A batch (after, upto] yields
every stored version of each entity that a landing in that range wrote or saw again, so
the curate step picks the best version from the whole history, whatever order versions came in.
A replay is a fresh checkpoint: it starts from landing 0 and calls no API.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.types import LongType, StringType, StructField, StructType

from app.errors import ConfigError
from connectors.genesys.windows import format_instant
from connectors.mongo.raw_store import RAW_ENDPOINTS, RawStore

log = logging.getLogger(__name__)

# Entities per partition: each partition is one Spark task, so a replay of months spreads over
# many tasks instead of one huge read.
ENTITIES_PER_PARTITION = 2000
# The endpoint name of the one row per batch that only says which raw batch it reaches.
BATCH_MARKER = "_batch"

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
class RawPartition(InputPartition):
    """The stored versions of a group of entities of one endpoint, for one curate batch."""

    endpoint: str
    entity_ids: tuple[str, ...]
    curate_batch: str
    curate_seq: int


def _instant_text(value: Any) -> str | None:
    return None if value is None else format_instant(value)


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
