"""Small builders for the pieces of an analytics detail record: timestamps, segments, metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.timefmt import format_ts

Record = dict[str, Any]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_ts(millis: int) -> str:
    """Format epoch milliseconds as an analytics timestamp."""
    return format_ts(EPOCH + timedelta(milliseconds=millis))


def to_ms(moment: datetime) -> int:
    """Convert an aware (or naive UTC) datetime to epoch milliseconds."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - EPOCH) // timedelta(milliseconds=1)


def segment(start: int, end: int, kind: str, **extra: Any) -> Record:
    """Return a segment dict in the API's key order; extras that are None are omitted."""
    seg: Record = {"segmentStart": ms_to_ts(start), "segmentEnd": ms_to_ts(end)}
    for name in ("queueId", "requestedRoutingSkillIds", "disconnectType"):
        if extra.get(name) is not None:
            seg[name] = extra[name]
    seg["segmentType"] = kind
    for name in ("wrapUpCode", "wrapUpNote", "subject"):
        if extra.get(name) is not None:
            seg[name] = extra[name]
    seg["conference"] = False
    return seg


def metric(name: str, value: int, emit: int) -> Record:
    """Return a session metric emitted at epoch-ms ``emit``."""
    return {"name": name, "value": int(value), "emitDate": ms_to_ts(emit)}
