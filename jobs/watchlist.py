"""The watchlist: conversations seen open are fetched again by id until they are final.

The details query finds a conversation through the intervals its life overlaps. Once it has
ended, later windows no longer overlap it, yet Genesys still adds to it: the agent's wrap-up
segment and the ACW metrics arrive after the call, sometimes minutes later. A conversation the
capture saw unfinished therefore goes on the watchlist (collection `watchlist` in the raw
database) and each capture batch fetches the listed ones by id (100 per request) and lands
what changed, until the conversation is final:

- it has a `conversationEnd`;
- every agent who talked to the customer has a wrap-up (a segment with a `wrapUpCode`);
- the end lies at least `settle` in the past (server time), for metrics that come later still.

A conversation missing a wrap-up is fetched by every batch: the wrap-up usually comes within
minutes. One that lacks nothing but settling time is fetched once, when `settle` has passed
(`due_at`): fetching it each batch meanwhile would cost a request per 100 of them every two
minutes for ten minutes, for metrics that the fetch after settling brings anyway.

Runs on the driver inside the capture batch, after the window's payloads landed and before
the batch's completion marker, so the curate query sees window and watchlist versions together.
A conversation the API stops returning (deleted, or moved out of the client's divisions) is
tried `MAX_MISSES` times, then left on the list marked `given_up_at`, never dropped silently.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.config import GenesysSettings, parse_instant
from connectors.genesys.budget import OPEN_CONVERSATIONS, BudgetTarget, RequestBudget
from connectors.genesys.client import GenesysClient
from connectors.genesys.windows import format_instant
from connectors.mongo.raw_store import RawStore

log = logging.getLogger(__name__)

# How often a listed conversation may be missing from the API's answer before it is given up.
MAX_MISSES = 3
# The reason of a conversation that lacks nothing but time (see `open_reason`).
SETTLING = "settling"


@dataclass(frozen=True)
class WatchSettings:
    """What following open conversations needs: the API and the rules of finality."""

    genesys: GenesysSettings
    settle: timedelta = timedelta(minutes=10)
    # Fetches per capture batch at most (100 ids a request), so the list never eats the budget.
    max_per_batch: int = 2_000
    # The application's shared request budget; open conversations spend at the top priority.
    budget: BudgetTarget | None = None


def open_reason(record: dict[str, Any], server_now: datetime, settle: timedelta) -> str | None:
    """Why a conversation record is not final yet, or None when it is."""
    end_text = record.get("conversationEnd")
    if not end_text:
        return "not ended"
    try:
        end = parse_instant(str(end_text))
    except ValueError:
        return None  # unreadable: curate quarantines it; fetching again would not help
    for participant in record.get("participants") or []:
        if not isinstance(participant, dict) or participant.get("purpose") != "agent":
            continue
        segments = [
            segment
            for session in participant.get("sessions") or []
            if isinstance(session, dict)
            for segment in session.get("segments") or []
            if isinstance(segment, dict)
        ]
        talked = any(segment.get("segmentType") == "interact" for segment in segments)
        wrapped = any(segment.get("wrapUpCode") for segment in segments)
        if talked and not wrapped:
            return "agent wrap-up missing"
    if server_now - end < settle:
        return SETTLING
    return None


def finality_view(record: dict[str, Any]) -> dict[str, Any]:
    """The parts of a conversation record that `open_reason` reads: its end and, per agent,
    the segments' types and wrap-up codes. Executors send these to the driver instead of whole
    records, so that the watchlist needs no read of what the landing just stored."""
    participants = []
    for participant in record.get("participants") or []:
        if not isinstance(participant, dict) or participant.get("purpose") != "agent":
            continue
        segments = [
            {"segmentType": segment.get("segmentType"), "wrapUpCode": segment.get("wrapUpCode")}
            for session in participant.get("sessions") or []
            if isinstance(session, dict)
            for segment in session.get("segments") or []
            if isinstance(segment, dict)
        ]
        participants.append({"purpose": "agent", "sessions": [{"segments": segments}]})
    return {"conversationEnd": record.get("conversationEnd"), "participants": participants}


def follow_open_conversations(
    store: RawStore,
    watch: WatchSettings,
    land_seq: int,
    window: dict[str, str],
    landed: dict[str, dict[str, Any]],
    server_now: datetime | None = None,
) -> dict[str, int]:
    """Update the watchlist from this landing, fetch the listed conversations the window did
    not bring, land their current records under the same landing; return counts for the log.

    `landed` holds the newest record (or its `finality_view`) of each conversation the
    window's landing received, by conversation id. `window` holds the batch's
    `batch_key`, `window_start` and `window_end` (raw fields). `server_now` is the API clock
    as the batch's last answer gave it (its `Date` header); the clock is asked for only
    without it.
    """
    spend = None
    if watch.budget is not None:
        spend = RequestBudget(watch.budget, watch.genesys.client_id, OPEN_CONVERSATIONS)
    client = GenesysClient(watch.genesys, budget=spend)
    try:
        return _follow(store, watch, land_seq, window, landed, client, server_now)
    finally:
        client.close()


def _follow(
    store: RawStore,
    watch: WatchSettings,
    land_seq: int,
    window: dict[str, str],
    landed: dict[str, dict[str, Any]],
    client: GenesysClient,
    server_now: datetime | None,
) -> dict[str, int]:
    server_now = server_now or client.server_now()
    _update(store, landed, server_now, watch.settle)
    due = [id_ for id_ in store.watched_ids(watch.max_per_batch, server_now) if id_ not in landed]
    fetched: dict[str, dict[str, Any]] = {}
    if due:
        fetched = {
            str(record.get("conversationId")): record
            for record in client.get_conversations(due)
            if record.get("conversationId")
        }
        fetched_at = format_instant(client.stats.last_date or server_now)
        store.land(
            (
                {
                    "endpoint": "conversations",
                    "entity_id": conversation_id,
                    "payload": json.dumps(record, ensure_ascii=False),
                    "fetched_at": fetched_at,
                    **window,
                }
                for conversation_id, record in fetched.items()
            ),
            land_seq,
        )
        _update(store, fetched, server_now, watch.settle, fetched=True)
        missing = [id_ for id_ in due if id_ not in fetched]
        given_up = store.watch_missed(missing, MAX_MISSES, server_now)
        if given_up:
            log.warning(
                "watchlist: %d conversations no longer returned by the API after %d tries, "
                "given up (kept in `watchlist` with given_up_at): %s",
                len(given_up),
                MAX_MISSES,
                ", ".join(given_up[:5]),
            )
    counts = {
        "watch_due": len(due),
        "watch_fetched": len(fetched),
        "watch_requests": client.stats.requests,
        "watch_retries": client.stats.retries,
        "watch_throttled": client.stats.throttled,
        "watch_budget_waits": client.stats.budget_waits,
        "watch_listed": store.watched_count(),
    }
    return counts


def _update(
    store: RawStore,
    records: dict[str, dict[str, Any]],
    server_now: datetime,
    settle: timedelta,
    *,
    fetched: bool = False,
) -> None:
    """List the open conversations of `records`, take the final ones off the list.

    `fetched`: the records were just fetched by id, so their entries are marked checked now
    (the order in which `watched_ids` takes them) even when nothing else changed.
    """
    still_open: dict[str, str] = {}
    settled_at: dict[str, datetime] = {}
    final: list[str] = []
    for conversation_id, record in records.items():
        reason = open_reason(record, server_now, settle)
        if reason is None:
            final.append(conversation_id)
            continue
        still_open[conversation_id] = reason
        if reason == SETTLING:
            settled_at[conversation_id] = parse_instant(str(record["conversationEnd"])) + settle
    store.watch(still_open, server_now, settled_at, checked=fetched)
    store.unwatch(final)
