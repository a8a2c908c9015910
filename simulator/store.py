"""Indexed final conversation records, answering "what does the API show at instant t" quickly."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from simulator.timefmt import days_touched, format_ts, ts_key
from simulator.view import matches_interval, view_at_key

Record = dict[str, Any]


class ConversationStore:
    """Final records sorted by start, with lookups by id and by details-query interval.

    Args:
        records: Final detail records; they are never modified.
    """

    def __init__(self, records: Iterable[Record]) -> None:
        keyed = sorted(
            ((ts_key(rec["conversationStart"]), rec["conversationId"], rec) for rec in records),
            key=lambda item: (item[0], item[1]),
        )
        self._starts = [item[0] for item in keyed]
        self._records = [item[2] for item in keyed]
        self._by_id = {item[1]: item[2] for item in keyed}

    def __len__(self) -> int:
        return len(self._records)

    def final(self, start: datetime | None = None, end: datetime | None = None) -> list[Record]:
        """Return final records whose conversationStart is in ``[start, end)`` (bounds optional)."""
        low = 0 if start is None else bisect.bisect_left(self._starts, format_ts(start))
        high = (
            len(self._starts) if end is None else bisect.bisect_left(self._starts, format_ts(end))
        )
        return self._records[low:high]

    def view(self, conversation_id: str, now_key: str) -> Record | None:
        """Return the view of one conversation at ``now_key``, or None if unknown or not started."""
        record = self._by_id.get(conversation_id)
        return None if record is None else view_at_key(record, now_key)

    def interval_views(self, start: datetime, end: datetime, now_key: str) -> list[Record]:
        """Return the views at ``now_key`` of every conversation the details query would match.

        Only records that started on a UTC day touched by ``[start, end)`` and before ``end`` are
        candidates; `matches_interval` then applies the end-of-conversation rule to each view.
        """
        first_day, _ = days_touched(start, end)
        low = bisect.bisect_left(self._starts, f"{first_day}T00:00:00.000Z")
        high = bisect.bisect_left(self._starts, format_ts(end))
        views = []
        for record in self._records[low:high]:
            view = view_at_key(record, now_key)
            if view is not None and matches_interval(view, start, end):
                views.append(view)
        return views
