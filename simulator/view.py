"""How a conversation record looks at a given instant, and the details-query interval rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.timefmt import days_touched, format_ts, ts_key

Record = dict[str, Any]


def view_at(record: Record, moment: datetime) -> Record | None:
    """Return ``record`` as the API shows it at ``moment``, or None if it has not started yet.

    Segments that start after ``moment`` are dropped, a segment still open loses ``segmentEnd``,
    metrics emitted later are dropped, and so is ``conversationEnd`` when it lies in the future.
    Sessions and participants left empty disappear. The stored record is never modified.

    Args:
        record: A final conversation detail record.
        moment: The instant of the view (aware; naive values are taken as UTC).
    """
    return view_at_key(record, format_ts(moment))


def view_at_key(record: Record, key: str) -> Record | None:
    """Like `view_at`, with the instant already in canonical ``...mmmZ`` form (for hot loops)."""
    if ts_key(record["conversationStart"]) > key:
        return None
    participants = []
    for participant in record.get("participants", ()):
        sessions = []
        for session in participant.get("sessions", ()):
            trimmed = _session_at(session, key)
            if trimmed is not None:
                sessions.append(trimmed)
        if sessions:
            participants.append(_copy_flat(participant, {"sessions": sessions}))
    view = _copy_flat(record, {"participants": participants})
    end = record.get("conversationEnd")
    if end is not None and ts_key(end) > key:
        del view["conversationEnd"]
    return view


def _session_at(session: Record, key: str) -> Record | None:
    segments = []
    for segment in session.get("segments", ()):
        if ts_key(segment["segmentStart"]) > key:
            continue
        copied = _copy_flat(segment)
        end = segment.get("segmentEnd")
        if end is not None and ts_key(end) > key:
            del copied["segmentEnd"]
        segments.append(copied)
    metrics = [
        dict(metric)
        for metric in session.get("metrics", ())
        if "emitDate" not in metric or ts_key(metric["emitDate"]) <= key
    ]
    if not segments and not metrics:
        return None
    return _copy_flat(session, {"segments": segments, "metrics": metrics})


def _copy_flat(source: Record, replace: Record | None = None) -> Record:
    """Copy one level (key order kept), substituting ``replace`` values for keys present."""
    # Lists and nested objects get their own copies so that callers can edit a view freely.
    copied: Record = {}
    for name, value in source.items():
        if replace is not None and name in replace:
            copied[name] = replace[name]
        elif isinstance(value, list):
            copied[name] = [dict(item) if isinstance(item, dict) else item for item in value]
        elif isinstance(value, dict):
            copied[name] = dict(value)
        else:
            copied[name] = value
    return copied


def matches_interval(view: Record, start: datetime, end: datetime) -> bool:
    """Return whether the details query for ``[start, end)`` returns this conversation view.

    The conversation must have started on a UTC day the interval touches, started before the
    interval end, and either still be running or have ended at or after the interval start.
    """
    conv_start = ts_key(view["conversationStart"])
    first_day, last_day = days_touched(start, end)
    if not first_day <= conv_start[:10] <= last_day:
        return False
    if conv_start >= format_ts(end):
        return False
    conv_end = view.get("conversationEnd")
    return conv_end is None or ts_key(conv_end) >= format_ts(start)
