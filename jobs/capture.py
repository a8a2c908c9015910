"""The capture job's micro-batch: land the polled payloads in the raw layer, then mark the
batch complete. Re-running a batch changes nothing: identical payloads collapse on their `_id`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from pyspark.sql import DataFrame, Row

from connectors.mongo.raw_store import CONTROL_ENDPOINT, RawStore
from jobs.watchlist import WatchSettings, follow_open_conversations

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawTarget:
    """Where the raw layer lives; travels to executors, so only plain strings."""

    uri: str
    database: str


def _land_partition(
    target: RawTarget, land_seq: int, rows: Iterator[Row]
) -> Iterator[tuple[str, Any]]:
    """Executor: upsert one partition's payloads; report counts and the windows it saw."""
    store = RawStore(target.uri, target.database)
    windows: set[tuple[str, str, str]] = set()
    controls = 0

    def as_dicts() -> Iterator[dict[str, Any]]:
        nonlocal controls
        for row in rows:
            windows.add((row["batch_key"], row["window_start"], row["window_end"]))
            controls += row["endpoint"] == CONTROL_ENDPOINT
            yield row.asDict()

    try:
        counts = store.land(as_dicts(), land_seq)
    finally:
        store.close()
    yield ("counts", dict(counts))
    yield ("controls", controls)
    for window in windows:
        yield ("window", window)


def land_raw_batch(
    target: RawTarget, watch: WatchSettings | None, batch: DataFrame, batch_id: int
) -> str | None:
    """Driver, `foreachBatch` of the capture query: land, follow the watchlist (when `watch`
    is given), then write the completion marker.

    Returns the raw batch key, or None for a batch without planned work.
    """
    began = time.monotonic()
    store = RawStore(target.uri, target.database)
    try:
        land_seq = store.next_land_seq()
    finally:
        store.close()
    reports = batch.rdd.mapPartitions(partial(_land_partition, target, land_seq)).collect()
    counts: Counter[str] = Counter()
    windows = set()
    controls = 0
    for kind, value in reports:
        if kind == "counts":
            counts.update(value)
        elif kind == "controls":
            controls += value
        else:
            windows.add(value)
    if not windows:
        # Every planned partition yields a control row, so this means a batch with no work.
        log.info("capture batch %d: nothing planned", batch_id)
        return None
    if len(windows) != 1:
        raise RuntimeError(f"capture batch {batch_id} mixes windows {sorted(windows)}")
    batch_key, window_start, window_end = windows.pop()
    store = RawStore(target.uri, target.database)
    try:
        window = {"window_start": window_start, "window_end": window_end}
        details: dict[str, Any] = {**window, "partitions": controls}
        if watch is not None:
            # Fetched records land under this batch's key and window, like the window's own.
            raw_fields = {"batch_key": batch_key, **window}
            details["watchlist"] = follow_open_conversations(store, watch, land_seq, raw_fields)
        store.mark_complete(batch_key, land_seq, dict(counts), details)
    finally:
        store.close()
    log.info(
        "capture batch %d landed raw batch %s (%s/%s): %s, watchlist %s in %.1fs",
        batch_id,
        batch_key,
        window_start,
        window_end,
        dict(counts),
        details.get("watchlist", "off"),
        time.monotonic() - began,
    )
    return batch_key
