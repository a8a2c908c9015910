"""Timestamp helpers for the formats Genesys uses: analytics ``...mmmZ`` strings, ISO intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_CANONICAL_LEN = len("2021-04-01T12:27:53.386Z")


def format_ts(moment: datetime) -> str:
    """Format an instant the way analytics payloads do: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def format_ts_seconds(moment: datetime) -> str:
    """Format an instant without milliseconds (``YYYY-MM-DDTHH:MM:SSZ``), as entity endpoints do."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(text: str) -> datetime:
    """Parse an ISO-8601 instant with ``Z``, an offset or no zone (taken as UTC).

    Raises:
        ValueError: If ``text`` is not an ISO-8601 date-time.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected an ISO-8601 date-time string, got {text!r}")
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError as exc:
        raise ValueError(
            f"invalid ISO-8601 date-time {text!r}; expected e.g. 2024-01-31T10:00:00.000Z"
        ) from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def ts_key(text: str) -> str:
    """Return a sortable key for an analytics timestamp: its canonical ``...mmmZ`` form.

    Canonical strings compare correctly as text, which keeps record views fast; anything else
    (recorded fixtures without milliseconds, offsets) is parsed and re-formatted.
    """
    if len(text) == _CANONICAL_LEN and text[-1] == "Z" and text[10] == "T":
        return text
    return format_ts(parse_ts(text))


def parse_interval(text: str) -> tuple[datetime, datetime]:
    """Parse an ISO-8601 ``start/end`` interval into two aware UTC datetimes.

    Raises:
        ValueError: If the text is not two date-times separated by ``/`` or end is not after start.
    """
    if not isinstance(text, str) or text.count("/") != 1:
        raise ValueError(f"interval must be an ISO-8601 'start/end' string, got {text!r}")
    start_text, end_text = text.split("/")
    start, end = parse_ts(start_text), parse_ts(end_text)
    if end <= start:
        raise ValueError(f"interval end must be after its start, got {text!r}")
    return start, end


def days_touched(start: datetime, end: datetime) -> tuple[str, str]:
    """Return the first and last UTC dates (``YYYY-MM-DD``) that ``[start, end)`` touches."""
    last = end - timedelta(microseconds=1)
    return start.astimezone(UTC).date().isoformat(), last.astimezone(UTC).date().isoformat()
