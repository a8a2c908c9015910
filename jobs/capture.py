"""The capture job's micro-batch: land the polled payloads in the raw layer, then mark the
batch complete. Re-running a batch changes nothing: identical payloads collapse on their `_id`.

Each batch also leaves one document in `capture_control` (raw database), the ETL control table
of the capture: the interval, per pass (window, sweep, listing) the partitions, records,
requests, pages, retries, 429s and budget waits, the watchlist's counts, the watermark (the
window end: everything before it has been queried) and the lag behind the API server's clock.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pyspark.sql import DataFrame, Row

from app.config import parse_instant
from connectors.mongo.raw_store import CONTROL_ENDPOINT, RawStore
from jobs.watchlist import WatchSettings, finality_view, follow_open_conversations

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawTarget:
    """Where the raw layer lives; travels to executors, so only plain strings."""

    uri: str
    database: str


def _land_partition(
    target: RawTarget, land_seq: int, rows: Iterator[Row]
) -> Iterator[tuple[str, Any]]:
    """Executor: store one partition's payloads; report counts, the windows it saw and, for
    the watchlist, the finality view of each conversation it received."""
    store = RawStore(target.uri, target.database)
    windows: set[tuple[str, str, str]] = set()
    controls: list[tuple[dict[str, Any], str]] = []
    conversations: dict[str, tuple[str, dict[str, Any]]] = {}

    def as_dicts() -> Iterator[dict[str, Any]]:
        for row in rows:
            windows.add((row["batch_key"], row["window_start"], row["window_end"]))
            if row["endpoint"] == CONTROL_ENDPOINT:
                controls.append((json.loads(row["payload"]), row["fetched_at"]))
            elif row["endpoint"] == "conversations":
                _keep_newest_view(conversations, row)
            yield row.asDict()

    try:
        counts = store.land(as_dicts(), land_seq)
    finally:
        store.close()
    yield ("counts", dict(counts))
    for conversation_id, view in conversations.items():
        yield ("conversation", (conversation_id, view))
    for control in controls:
        yield ("control", control)
    for window in windows:
        yield ("window", window)


def _keep_newest_view(views: dict[str, tuple[str, dict[str, Any]]], row: Row) -> None:
    """Keep the row's finality view if it is the newest fetch of its conversation so far."""
    conversation_id = row["entity_id"]
    if not conversation_id:
        return
    try:
        record = json.loads(row["payload"])
    except ValueError:
        return  # landed as it is; the curate step quarantines it, fetching would not help
    if isinstance(record, dict):
        _keep_newer(views, conversation_id, (row["fetched_at"], finality_view(record)))


def _keep_newer(
    views: dict[str, tuple[str, dict[str, Any]]],
    conversation_id: str,
    fetched_view: tuple[str, dict[str, Any]],
) -> None:
    """Keep (fetch instant, view) unless a later fetch of the conversation is known."""
    known = views.get(conversation_id)
    if known is None or fetched_view[0] >= known[0]:
        views[conversation_id] = fetched_view


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
    controls: list[tuple[dict[str, Any], str]] = []
    conversations: dict[str, tuple[str, dict[str, Any]]] = {}
    for kind, value in reports:
        if kind == "counts":
            counts.update(value)
        elif kind == "conversation":
            conversation_id, fetched_view = value
            _keep_newer(conversations, conversation_id, fetched_view)
        elif kind == "control":
            controls.append(value)
        else:
            windows.add(value)
    landed_s = time.monotonic() - began
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
        details: dict[str, Any] = {**window, "partitions": len(controls)}
        summary = capture_summary(batch_key, window_start, window_end, controls)
        watch_began = time.monotonic()
        if watch is not None:
            # Fetched records land under this batch's key and window, like the window's own.
            raw_fields = {"batch_key": batch_key, **window}
            details["watchlist"] = follow_open_conversations(
                store,
                watch,
                land_seq,
                raw_fields,
                {conversation_id: view for conversation_id, (_, view) in conversations.items()},
                server_now=summary["server_time"],
            )
        summary.update(
            batch_id=batch_id,
            land_seq=land_seq,
            landed=dict(counts),
            watchlist=details.get("watchlist", {}),
            duration_seconds=round(time.monotonic() - began, 3),
            # Polling and landing (the Spark job), then following the watchlist (driver).
            landing_seconds=round(landed_s, 3),
            watchlist_seconds=round(time.monotonic() - watch_began, 3),
            recorded_at=datetime.now(UTC),
        )
        # Before the marker: a batch the curate query can see always has its control record.
        store.record_capture_control(summary)
        store.mark_complete(batch_key, land_seq, dict(counts), details)
    finally:
        store.close()
    log.info(
        "capture batch %d landed raw batch %s (%s/%s): %s, watchlist %s in %.1fs "
        "(polling and landing %.1fs)",
        batch_id,
        batch_key,
        window_start,
        window_end,
        dict(counts),
        details.get("watchlist", "off"),
        time.monotonic() - began,
        landed_s,
    )
    return batch_key


# The counters each partition's control row carries (connectors/genesys/client.py RequestStats).
PASS_COUNTERS = (
    "records", "requests", "pages", "retries", "throttled", "server_errors",
    "token_refreshes", "splits", "budget_waits",
)  # fmt: skip


def capture_summary(
    batch_key: str, window_start: str, window_end: str, controls: list[tuple[dict[str, Any], str]]
) -> dict[str, Any]:
    """The capture control record of one batch from its partitions' control rows.

    `controls` pairs each partition's counters with the server time its last answer carried.
    The watermark is the window end; the lag is how far the API server's clock was past it at
    the batch's last answer (large while the capture catches up after an outage).
    """
    passes: dict[str, dict[str, Any]] = {}
    totals: Counter[str] = Counter()
    server_times = []
    for stats, fetched_at in controls:
        default_pass = "window" if stats.get("endpoint") == "conversations" else "listing"
        name = str(stats.get("capture_pass") or default_pass)
        entry = passes.setdefault(name, {"partitions": 0, **dict.fromkeys(PASS_COUNTERS, 0)})
        entry["partitions"] += 1
        if stats.get("incomplete"):
            entry["incomplete"] = entry.get("incomplete", 0) + 1
        for counter in PASS_COUNTERS:
            entry[counter] += int(stats.get(counter) or 0)
            totals[counter] += int(stats.get(counter) or 0)
        # The interval a pass covered: the sweep's reaches back hours before the window's.
        start, end = stats.get("interval_start"), stats.get("interval_end")
        if start and (entry.get("interval_start") is None or start < entry["interval_start"]):
            entry["interval_start"] = start
        if end and (entry.get("interval_end") is None or end > entry["interval_end"]):
            entry["interval_end"] = end
        server_times.append(parse_instant(fetched_at))
    watermark = parse_instant(window_end)
    server_time = max(server_times, default=None)
    lag = None if server_time is None else (server_time - watermark).total_seconds()
    return {
        "_id": batch_key,
        "interval_start": window_start,
        "interval_end": window_end,
        "watermark": watermark,
        "server_time": server_time,
        "lag_seconds": None if lag is None else max(0.0, round(lag, 3)),
        "passes": passes,
        **{counter: totals[counter] for counter in PASS_COUNTERS},
    }
