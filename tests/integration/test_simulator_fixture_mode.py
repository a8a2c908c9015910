"""Integration tests: fixture mode serves recorded payloads over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from simulator.server import RunningSimulator, SimulatorConfig, start_simulator

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "genesys"
QUERY = "/api/v2/analytics/conversations/details/query"
CHAT_ID = "1bc96a39-6725-40c4-9345-db72aa67b8c6"


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = start_simulator(SimulatorConfig("cid", "secret", fixtures_dir=FIXTURES))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def headers(sim: RunningSimulator) -> dict[str, str]:
    token = requests.post(
        f"{sim.base_url}/oauth/token",
        auth=("cid", "secret"),
        data={"grant_type": "client_credentials"},
        timeout=5,
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_fixture_query_hour_of_chat_returns_that_conversation(
    sim: RunningSimulator, headers: dict[str, str]
) -> None:
    body = {"interval": "2021-04-01T12:00:00Z/2021-04-01T13:00:00Z"}

    result = requests.post(f"{sim.base_url}{QUERY}", json=body, headers=headers, timeout=5).json()

    assert result["totalHits"] == 1
    assert [c["conversationId"] for c in result["conversations"]] == [CHAT_ID]
    assert result["conversations"][0]["conversationEnd"] == "2021-04-01T12:43:23.306Z"


def test_fixture_query_next_day_returns_none(
    sim: RunningSimulator, headers: dict[str, str]
) -> None:
    body = {"interval": "2021-04-02T00:00:00Z/2021-04-02T23:00:00Z"}

    result = requests.post(f"{sim.base_url}{QUERY}", json=body, headers=headers, timeout=5).json()

    assert result == {"totalHits": 0}


def test_fixture_record_is_served_unchanged(sim: RunningSimulator, headers: dict[str, str]) -> None:
    served = requests.get(
        f"{sim.base_url}/api/v2/analytics/conversations/{CHAT_ID}/details",
        headers=headers,
        timeout=5,
    ).json()
    truth = requests.get(f"{sim.base_url}/simulator/truth", timeout=5).json()

    assert truth["conversations"] == [served]


def test_fixture_listing_serves_recorded_users(
    sim: RunningSimulator, headers: dict[str, str]
) -> None:
    result = requests.get(f"{sim.base_url}/api/v2/users", headers=headers, timeout=5).json()

    assert [u["name"] for u in result["entities"]] == ["Agent Alpha"]
    assert (result["total"], result["pageCount"]) == (1, 1)
