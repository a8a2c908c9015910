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
        pieces = []
        piece_start = self.query_start
        while piece_start < self.end:
            piece_end = min(self.end, piece_start + max_span)
            pieces.append((piece_start, piece_end))
            piece_start = piece_end
        return pieces


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


def dimensions_due(start: datetime, end: datetime, refresh: timedelta, first: bool) -> bool:
    """Whether a batch refreshes the dimension listings: the first batch, then each time the
    window crosses a multiple of `refresh` since the epoch (deterministic for given offsets)."""
    if first:
        return True
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return (end - epoch) // refresh > (start - epoch) // refresh


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
