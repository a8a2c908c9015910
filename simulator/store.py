"""Indexed final conversation records, answering "what does the API show at instant t" quickly."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from simulator.access import DivisionGrant
from simulator.indexing import IndexLag, Revision, record_at
from simulator.timefmt import days_touched, format_ts, ts_key
from simulator.view import matches_interval, view_at_key

Record = dict[str, Any]

_EVERYTHING = DivisionGrant()


class ConversationStore:
    """Final records sorted by start, with lookups by id and by details-query interval.

    Args:
        records: Final detail records; they are never modified.
        revisions: Earlier states of the records that change late, by conversation id.
        lag: The indexing lag; views are taken at "now minus the conversation's lag".
    """

    def __init__(
        self,
        records: Iterable[Record],
        *,
        revisions: Mapping[str, tuple[Revision, ...]] | None = None,
        lag: IndexLag | None = None,
    ) -> None:
        keyed = sorted(
            ((ts_key(rec["conversationStart"]), rec["conversationId"], rec) for rec in records),
            key=lambda item: (item[0], item[1]),
        )
        self._starts = [item[0] for item in keyed]
        self._records = [item[2] for item in keyed]
        self._by_id = {item[1]: item[2] for item in keyed}
        self._revisions = dict(revisions or {})
        self._lag = lag or IndexLag()

    def __len__(self) -> int:
        return len(self._records)

    @property
    def revisions(self) -> Mapping[str, tuple[Revision, ...]]:
        """Earlier states of the conversations that change late, by conversation id."""
        return self._revisions

    def final(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        grant: DivisionGrant = _EVERYTHING,
    ) -> list[Record]:
        """Return final records (after every late change) whose start is in ``[start, end)``.

        Bounds are optional; ``grant`` keeps only what one client may see.
        """
        low = 0 if start is None else bisect.bisect_left(self._starts, format_ts(start))
        high = (
            len(self._starts) if end is None else bisect.bisect_left(self._starts, format_ts(end))
        )
        return [record for record in self._records[low:high] if grant.sees_conversation(record)]

    def view(
        self, conversation_id: str, now_key: str, grant: DivisionGrant = _EVERYTHING
    ) -> Record | None:
        """Return the indexed view of one conversation at ``now_key``.

        None when the id is unknown, outside ``grant`` or not yet indexed. The by-id endpoints
        read the same index as the details query, so they lag exactly as much.
        """
        record = self._by_id.get(conversation_id)
        if record is None or not grant.sees_conversation(record):
            return None
        return self._indexed_view(record, now_key)

    def interval_views(
        self, start: datetime, end: datetime, now_key: str, grant: DivisionGrant = _EVERYTHING
    ) -> list[Record]:
        """Return the views at ``now_key`` of every conversation the details query would match.

        Only records that started on a UTC day touched by ``[start, end)`` and before ``end`` are
        candidates; `matches_interval` then applies the end-of-conversation rule to each view.
        """
        first_day, _ = days_touched(start, end)
        low = bisect.bisect_left(self._starts, f"{first_day}T00:00:00.000Z")
        high = bisect.bisect_left(self._starts, format_ts(end))
        views = []
        for record in self._records[low:high]:
            if not grant.sees_conversation(record):
                continue
            view = self._indexed_view(record, now_key)
            if view is not None and matches_interval(view, start, end):
                views.append(view)
        return views

    def _indexed_view(self, record: Record, now_key: str) -> Record | None:
        conversation_id = record["conversationId"]
        key = self._lag.indexed_key(conversation_id, now_key) if self._lag.enabled else now_key
        revisions = self._revisions.get(conversation_id)
        source = record_at(record, revisions, key) if revisions else record
        return view_at_key(source, key)
