"""What the analytics index holds: per-conversation indexing lag and revisions of a record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from simulator.timefmt import format_ts, parse_ts

Record = dict[str, Any]


@dataclass(frozen=True)
class IndexLag:
    """How long a change takes to reach the analytics index, in virtual seconds.

    Each conversation gets ``base_seconds`` plus a fixed share of ``jitter_seconds`` drawn from
    a hash of its id, so the lag is stable across requests and restarts. Conversations that
    are indexed later than their neighbours are inserted ahead of records a client has already
    paged past, which is how records move between pages on a busy interval.

    Attributes:
        base_seconds: Lag every conversation has.
        jitter_seconds: Largest extra lag of one conversation.
    """

    base_seconds: float = 0.0
    jitter_seconds: float = 0.0

    @property
    def enabled(self) -> bool:
        """Whether any conversation lags at all."""
        return self.base_seconds > 0 or self.jitter_seconds > 0

    def seconds_for(self, conversation_id: str) -> float:
        """Return the lag of one conversation, rounded to the millisecond."""
        if self.jitter_seconds <= 0:
            return self.base_seconds
        digest = hashlib.sha256(conversation_id.encode("utf-8")).digest()
        share = int.from_bytes(digest[:4], "big") / 2**32
        return round(self.base_seconds + share * self.jitter_seconds, 3)

    def indexed_key(self, conversation_id: str, now_key: str) -> str:
        """Return the instant (canonical key) up to which the index knows this conversation."""
        lag = self.seconds_for(conversation_id)
        if lag <= 0:
            return now_key
        return format_ts(parse_ts(now_key) - timedelta(seconds=lag))


@dataclass(frozen=True)
class Revision:
    """A state of a conversation record that the index serves from ``visible_from`` on.

    A record whose wrap-up arrives late, or an e-mail re-opened after it ended, has an earlier
    revision without those changes; the last revision is the final record.

    Attributes:
        visible_from: Canonical ``...mmmZ`` instant from which this revision is served.
        record: The record, trimmed by time like any other when viewed.
    """

    visible_from: str
    record: Record


def record_at(final: Record, revisions: tuple[Revision, ...], key: str) -> Record:
    """Return the revision of a conversation the index serves at ``key`` (the final by default)."""
    chosen = final
    for revision in revisions:
        if revision.visible_from <= key:
            chosen = revision.record
        else:
            break
    return chosen
