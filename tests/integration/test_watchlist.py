"""The watchlist against the simulator with late wrap-ups and a real MongoDB-wire server.

Every wrap-up arrives up to 5 minutes after its call: a window polled at 10:00 sees calls that
ended without their wrap-up. Their ids are listed; at 18:00 (everything final and settled) one
follow-up fetches them by id, lands the final records and empties the list.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.config import GenesysSettings, Secret
from connectors.genesys.client import GenesysClient
from connectors.genesys.windows import format_instant
from connectors.mongo.raw_store import WATCHLIST, RawStore
from jobs.watchlist import WatchSettings, finality_view, follow_open_conversations
from simulator.server import RunningSimulator, SimulatorConfig, start_simulator
from tests.integration.conftest import DbNames

pytestmark = pytest.mark.integration

CLIENT_ID = "watchlist-client"
CLIENT_SECRET = secrets.token_urlsafe(16)  # made per run: no secret literal
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    config = SimulatorConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        seed=8,
        start=NOW,
        speed=0.0,
        agents=20,
        conversations_per_hour=240,
        history_minutes=60,
        duration_minutes=1,
        late_wrapup_share=1.0,
        late_wrapup_max_seconds=300,
        rate_limit_per_minute=100_000,
        token_ttl_seconds=86_400,
    )
    with start_simulator(config, center=None) as running:
        yield running


def _wrapups(record: dict[str, Any]) -> list[str]:
    return sorted(
        segment["wrapUpCode"]
        for participant in record.get("participants", [])
        for session in participant.get("sessions", [])
        for segment in session.get("segments", [])
        if segment.get("wrapUpCode")
    )


def test_watchlist_calls_seen_without_wrapup_fetched_by_id_until_final(
    sim: RunningSimulator, mongo_uri: str, fresh_db_names: DbNames
) -> None:
    settings = GenesysSettings(sim.base_url, sim.base_url, CLIENT_ID, Secret(CLIENT_SECRET))
    watch = WatchSettings(settings, settle=timedelta(minutes=10))
    store = RawStore(mongo_uri, fresh_db_names.raw)
    store.ensure_indexes()
    window = {
        "batch_key": format_instant(NOW),
        "window_start": format_instant(NOW - timedelta(minutes=15)),
        "window_end": format_instant(NOW),
    }
    try:
        client = GenesysClient(settings)
        seen = list(client.query_conversation_details(NOW - timedelta(minutes=15), NOW))
        rows = [
            {
                "endpoint": "conversations",
                "entity_id": record["conversationId"],
                "payload": json.dumps(record),
                "fetched_at": format_instant(NOW),
                **window,
            }
            for record in seen
        ]
        store.land(rows, 1)
        landed = {record["conversationId"]: finality_view(record) for record in seen}

        first = follow_open_conversations(store, watch, 1, window, landed)

        listed = {doc["_id"]: doc["open_reason"] for doc in store.db[WATCHLIST].find()}
        truth = {r["conversationId"]: r for r in sim.app.store.final()}
        seen_ids = {r["conversationId"] for r in seen}
        # Calls the window saw without the wrap-up they have in the end are listed as such.
        unwrapped = {
            r["conversationId"]
            for r in seen
            if r.get("conversationEnd") and _wrapups(r) != _wrapups(truth[r["conversationId"]])
        }
        assert unwrapped, "the scenario must show calls whose wrap-up comes late"
        assert {i for i, reason in listed.items() if reason == "agent wrap-up missing"} == unwrapped
        assert set(listed) <= seen_ids
        assert first["watch_due"] == 0  # everything listed was just landed by the window

        sim.app.clock.set(NOW + timedelta(hours=8))
        later = follow_open_conversations(store, watch, 2, {**window, "batch_key": "later"}, {})

        assert later["watch_due"] == len(listed)
        assert later["watch_fetched"] == len(listed)
        assert later["watch_listed"] == 0
        assert store.db[WATCHLIST].count_documents({}) == 0
        newest = {
            doc["entity_id"]: json.loads(store.payload_json(doc) or "null")
            for doc in store.db.conversations.find({"landed_seq": 2})
        }
        assert set(newest) == set(listed)
        for conversation_id, record in newest.items():
            final = truth[conversation_id]
            assert record.get("conversationEnd") == final["conversationEnd"]
            assert _wrapups(record) == _wrapups(final)
    finally:
        store.close()
