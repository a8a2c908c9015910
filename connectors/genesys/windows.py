"""Capture windows: offsets as UTC instants and the API intervals each batch queries.

A batch moves the offset from `start` to `end`. It queries `[start - overlap, end)`, so that a
record indexed late, up to `overlap` after it happened, is still caught by the next poll.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.config import parse_instant

log = logging.getLogger(__name__)


def format_instant(instant: datetime) -> str:
    """`2026-12-04T10:02:00.000Z`: fixed width, so offsets and batch keys sort as text."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class CaptureOffset:
    """How far the capture has come: everything before `until` has been queried."""

    until: datetime

    def to_json(self) -> dict[str, str]:
        """The offset as Spark stores it in the checkpoint."""
        return {"until": format_instant(self.until)}

    @classmethod
    def from_json(cls, value: dict[str, str]) -> CaptureOffset:
        """Read an offset back from the checkpoint."""
        return cls(parse_instant(value["until"]))


@dataclass(frozen=True)
class CaptureWindow:
    """One batch: the offsets it moves between and the interval it asks the API for."""

    start: datetime
    end: datetime
    overlap: timedelta

    @property
    def query_start(self) -> datetime:
        """Where the API interval begins: the batch start minus the overlap."""
        return self.start - self.overlap

    @property
    def batch_key(self) -> str:
        """The raw batch's name: the window end, unique and ordered across restarts."""
        return format_instant(self.end)

    def split(self, max_span: timedelta) -> list[tuple[datetime, datetime]]:
        """The API interval cut into pieces of at most `max_span`, in order, without gaps."""
        return split_interval(self.query_start, self.end, max_span)


def next_offset_until(
    known: datetime | None, server_now: datetime, end: datetime | None, max_batch: timedelta
) -> datetime:
    """Where the next batch should end: the server's now, but not past the bounded `end`, and
    not more than `max_batch` beyond `known` (the newest offset this reader has planned).

    After a restart the reader knows no offset until Spark hands it one, so the cap waits for
    the next batch; the result never goes below `known`.
    """
    until = server_now.replace(microsecond=(server_now.microsecond // 1000) * 1000)
    if known is not None:
        until = max(known, min(until, known + max_batch))
    if end is not None:
        until = min(until, end)
    return until


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def crosses_multiple(start: datetime, end: datetime, every: timedelta) -> bool:
    """Whether (start, end] contains a multiple of `every` since the epoch: a cadence that is
    deterministic for given offsets, so a re-planned batch decides the same."""
    return (end - _EPOCH) // every > (start - _EPOCH) // every


def dimensions_due(start: datetime, end: datetime, refresh: timedelta, first: bool) -> bool:
    """Whether a batch refreshes the dimension listings: the first batch, then each time the
    window crosses a multiple of `refresh` since the epoch."""
    return first or crosses_multiple(start, end, refresh)


def sweep_due(window: CaptureWindow, every: timedelta) -> bool:
    """Whether a batch sweeps: each time its window crosses a multiple of `every` (0: never)."""
    return every > timedelta(0) and crosses_multiple(window.start, window.end, every)


def sweep_interval(
    window: CaptureWindow, every: timedelta, horizon: timedelta, floor: datetime | None
) -> tuple[datetime, datetime] | None:
    """The trailing interval a batch sweeps, or None when no sweep is due.

    A sweep is due each time the window crosses a multiple of `every`. It queries
    `[window end - horizon, window query start)`: the details query returns the conversations
    that started on a day the interval touches and overlap it, so the sweep finds what changed
    after the watchlist let a conversation go (metrics hours late, an e-mail re-opened) and a
    call that started before midnight but was first indexed after it, which no window of the
    new day can find. `floor` (the capture start, minus the overlap) keeps a first load from
    sweeping history it was not asked for.
    """
    if not sweep_due(window, every):
        return None
    begin = window.end - horizon
    if floor is not None:
        begin = max(begin, floor)
    if begin >= window.query_start:
        return None
    return begin, window.query_start


def day_end_intervals(
    window: CaptureWindow, reach: datetime, days: int, floor: datetime | None
) -> list[tuple[datetime, datetime]]:
    """The last second of each of the `days` UTC days before the window's day that neither the
    window nor the sweep (which reaches back to `reach`) touches, oldest first.

    The details query for `[D 23:59:59, D+1 00:00)` searches day D only and returns the
    conversations that started on D and were still open at its end, or were re-opened since: a
    handful, where sweeping all of D would page through the whole day. Without it, an e-mail
    that started on D and is re-opened after the sweep horizon has left D, or a call of D first
    indexed after that, is found by no query. Days ending at or before `floor` (the capture
    start, minus the overlap) were not asked for.
    """
    midnight = window.query_start.replace(hour=0, minute=0, second=0, microsecond=0)
    intervals = []
    for back in range(days):
        day_end = midnight - timedelta(days=back)
        if day_end > reach or (floor is not None and day_end <= floor):
            continue
        intervals.append((day_end - timedelta(seconds=1), day_end))
    return sorted(intervals)


def split_interval(
    start: datetime, end: datetime, max_span: timedelta
) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into pieces of at most `max_span`, in order, without gaps."""
    pieces = []
    piece_start = start
    while piece_start < end:
        piece_end = min(end, piece_start + max_span)
        pieces.append((piece_start, piece_end))
        piece_start = piece_end
    return pieces


def local_checkpoint(location: str) -> Path | None:
    """The checkpoint folder when it is on this machine's file system (a path or `file:` URI);
    None when not given or on a remote store (s3a, hdfs, ...), which this module does not read."""
    path = location.removeprefix("file://").removeprefix("file:")
    return None if not path or "://" in path else Path(path)


def checkpointed_offset(checkpoint: Path) -> CaptureOffset | None:
    """The newest offset a query planned, read from its checkpoint's offset log; None when the
    query never planned a batch.

    Spark asks a Python source for `latestOffset` before it hands over the checkpointed (or
    initial) offset, so without this the first batch of a run would ignore the batch cap.
    Each file under `offsets/` is `v1`, a metadata line, then one line per source; the capture
    query has one source.
    """
    folder = checkpoint / "offsets"
    try:
        batches = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())
    except OSError:
        return None
    for batch in reversed(batches):
        try:
            lines = (folder / str(batch)).read_text(encoding="utf-8").splitlines()
            return CaptureOffset.from_json(json.loads(lines[2]))
        except (OSError, IndexError, ValueError, KeyError, TypeError) as error:
            # A file cut short by a kill while Spark wrote it: Spark ignores it too.
            log.warning("checkpoint offset file %s unreadable (%s)", batch, type(error).__name__)
    return None
