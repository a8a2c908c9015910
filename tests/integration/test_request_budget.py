"""The shared API request budget against a real MongoDB-wire server and the simulator.

The budget's clock is a fake one that `sleep` moves forward, so a test can fill a minute and
watch a request wait for the next one without waiting itself.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pymongo import MongoClient

from app.config import GenesysSettings, Secret
from connectors.genesys.budget import (
    BUDGET_COLLECTION,
    DIMENSIONS,
    OPEN_CONVERSATIONS,
    WINDOW,
    BudgetTarget,
    RequestBudget,
)
from connectors.genesys.client import GenesysClient
from simulator.server import RunningSimulator, SimulatorConfig, start_simulator
from tests.integration.conftest import DbNames

pytestmark = pytest.mark.integration

CLIENT_ID = "budget-client"
CLIENT_SECRET = secrets.token_urlsafe(16)  # made per run: no secret literal
# A minute boundary, plus 10 s: every test starts inside wall minute 29,690,640.
T0 = 1_781_438_400.0 + 10.0
MINUTE = int(T0 // 60)


class FakeClock:
    """Wall-clock seconds that only `sleep` moves; records each wait."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _budget(
    mongo_uri: str, names: DbNames, priority: str, clock: FakeClock, per_minute: int = 10
) -> RequestBudget:
    target = BudgetTarget(Secret(mongo_uri), names.raw, per_minute)
    return RequestBudget(target, CLIENT_ID, priority, clock=clock, sleep=clock.sleep)


def _buckets(mongo_client: MongoClient[dict[str, Any]], names: DbNames) -> dict[int, dict]:
    """Slots taken per minute (counted from MINUTE): in all and per priority."""
    buckets: dict[int, dict[str, int]] = {}
    for slot in mongo_client[names.raw][BUDGET_COLLECTION].find({"client_id": CLIENT_ID}):
        bucket = buckets.setdefault(slot["minute"] - MINUTE, {"used": 0})
        bucket["used"] += 1
        name = f"used_{slot['priority']}"
        bucket[name] = bucket.get(name, 0) + 1
    return buckets


def _slot_numbers(mongo_client: MongoClient[dict[str, Any]], names: DbNames) -> list[int]:
    slots = mongo_client[names.raw][BUDGET_COLLECTION].find({"minute": MINUTE})
    return sorted(slot["slot"] for slot in slots)


def test_budget_dimensions_share_used_up_next_request_waits_for_next_minute(
    mongo_uri: str, mongo_client: MongoClient[dict[str, Any]], fresh_db_names: DbNames
) -> None:
    clock = FakeClock(T0)
    budget = _budget(mongo_uri, fresh_db_names, DIMENSIONS, clock)
    try:
        for _ in range(5):
            budget.take()
    finally:
        budget.close()

    # 40 % of 10 is 4: the fifth request waits 50 s and some jitter into the next minute.
    assert budget.waits == 1
    assert len(clock.waits) == 1 and 50.05 <= clock.waits[0] <= 51.0
    assert _buckets(mongo_client, fresh_db_names) == {
        0: {"used": 4, "used_dimensions": 4},
        1: {"used": 1, "used_dimensions": 1},
    }


def test_budget_higher_priorities_keep_headroom_above_lower_ones(
    mongo_uri: str, mongo_client: MongoClient[dict[str, Any]], fresh_db_names: DbNames
) -> None:
    clock = FakeClock(T0)
    dimensions = _budget(mongo_uri, fresh_db_names, DIMENSIONS, clock)
    window = _budget(mongo_uri, fresh_db_names, WINDOW, clock)
    watchlist = _budget(mongo_uri, fresh_db_names, OPEN_CONVERSATIONS, clock)
    try:
        for _ in range(4):
            dimensions.take()
        for _ in range(4):
            window.take()  # 85 % of 10 is 8: up to 8 in all
        for _ in range(2):
            watchlist.take()  # 100 %: the last two slots
    finally:
        for budget in (dimensions, window, watchlist):
            budget.close()

    assert clock.waits == []
    assert _buckets(mongo_client, fresh_db_names) == {
        0: {
            "used": 10,
            "used_dimensions": 4,
            "used_window": 4,
            "used_open_conversations": 2,
        }
    }


class MinuteFullError(Exception):
    """Raised by `sleep`: the thread found its share used up and would wait."""


def test_budget_processes_taking_slots_at_once_never_exceed_the_share(
    mongo_uri: str, mongo_client: MongoClient[dict[str, Any]], fresh_db_names: DbNames
) -> None:
    """Four processes' worth of budgets, five requests each, against a window share of 8."""
    target = BudgetTarget(Secret(mongo_uri), fresh_db_names.raw, 10)
    sent: list[int] = []
    start = threading.Barrier(4)

    def stop(_seconds: float) -> None:
        raise MinuteFullError

    def spend() -> None:
        budget = RequestBudget(target, CLIENT_ID, WINDOW, clock=lambda: T0, sleep=stop)
        try:
            start.wait()
            for _ in range(5):
                budget.take()
                sent.append(1)
        except MinuteFullError:
            pass
        finally:
            budget.close()

    threads = [threading.Thread(target=spend) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(sent) == 8
    assert _slot_numbers(mongo_client, fresh_db_names) == list(range(8))


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    config = SimulatorConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        seed=5,
        start=datetime(2026, 12, 4, 10, 0, tzinfo=UTC),
        speed=0.0,
        agents=30,
        conversations_per_hour=60,
        history_minutes=30,
        duration_minutes=1,
        rate_limit_per_minute=100_000,
    )
    with start_simulator(config, center=None) as running:
        yield running


def test_budget_client_listing_every_api_request_counted_once_in_shared_minutes(
    sim: RunningSimulator,
    mongo_uri: str,
    mongo_client: MongoClient[dict[str, Any]],
    fresh_db_names: DbNames,
) -> None:
    clock = FakeClock(T0)
    settings = GenesysSettings(sim.base_url, sim.base_url, CLIENT_ID, Secret(CLIENT_SECRET))
    budget = _budget(mongo_uri, fresh_db_names, WINDOW, clock, per_minute=20)
    client = GenesysClient(settings, budget=budget)
    try:
        users = list(client.list_entities("/api/v2/users", {"state": "any"}, page_size=1))
    finally:
        client.close()

    served = requests.get(f"{sim.base_url}/simulator/stats", timeout=10).json()
    api_requests = served["clients"][CLIENT_ID]["requests"]
    # One user a page: as many API requests as users; 85 % of 20 is 17 in the first minute.
    assert api_requests == len(users) == 30
    assert client.stats.budget_waits == 1
    assert _buckets(mongo_client, fresh_db_names) == {
        0: {"used": 17, "used_window": 17},
        1: {"used": 13, "used_window": 13},
    }
