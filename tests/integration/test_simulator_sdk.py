"""Integration test: the official Genesys Python SDK talks to the simulator and reads everything."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PureCloudPlatformClientV2 import (
    AnalyticsApi,
    ApiClient,
    AuthorizationApi,
    ConversationQuery,
    PagingSpec,
    RoutingApi,
    UsersApi,
)

from simulator.server import RunningSimulator, SimulatorConfig, start_simulator

pytestmark = pytest.mark.integration

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INTERVAL = "2024-05-01T11:00:00.000Z/2024-05-01T12:00:00.000Z"


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    config = SimulatorConfig(
        "sdk-client",
        "sdk-secret",
        start=NOW,
        speed=0.0,
        agents=60,
        conversations_per_hour=300,
        history_minutes=60,
        duration_minutes=30,
    )
    running = start_simulator(config)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api_client(sim: RunningSimulator) -> Any:
    # The SDK derives the login host from the API host with re.sub(r"//(api)\.", "//login.", host)
    # in ApiClient.get_conf_url. "http://127.0.0.1:<port>" has no "//api." to replace, so the login
    # URL equals the API URL, which is exactly what the simulator serves (one host plays both).
    # Passing host to the constructor avoids touching the SDK's process-wide Configuration.
    client = ApiClient(host=sim.base_url)
    return client.get_client_credentials_token("sdk-client", "sdk-secret")


def _page_all(fetch: Callable[..., Any], **kwargs: Any) -> list[Any]:
    entities, page = [], 1
    while True:
        listing = fetch(page_size=25, page_number=page, **kwargs)
        entities.extend(listing.entities)
        if page >= (listing.page_count or 0):
            return entities
        page += 1


def test_sdk_authenticates_with_client_credentials(api_client: Any) -> None:
    assert len(api_client.access_token) > 20


def test_sdk_pages_users_including_deleted(sim: RunningSimulator, api_client: Any) -> None:
    users = _page_all(UsersApi(api_client).get_users, state="any")

    assert [u.id for u in users] == [u["id"] for u in sim.center.users]
    assert {u.state for u in users} == {"active", "inactive", "deleted"}
    assert users[0].division.self_uri.startswith("/api/v2/authorization/divisions/")


def test_sdk_pages_routing_listings(sim: RunningSimulator, api_client: Any) -> None:
    routing = RoutingApi(api_client)

    queues = _page_all(routing.get_routing_queues)
    skills = _page_all(routing.get_routing_skills)
    codes = _page_all(routing.get_routing_wrapupcodes)

    assert [q.name for q in queues] == [q["name"] for q in sim.center.queues]
    assert queues[0].acw_settings.wrapup_prompt == "MANDATORY_TIMEOUT"
    assert [s.id for s in skills] == [s["id"] for s in sim.center.skills]
    assert skills[0].date_modified.tzinfo is not None
    assert [c.id for c in codes] == [c["id"] for c in sim.center.wrapup_codes]
    assert codes[0].division.id == "*"


def test_sdk_pages_divisions(sim: RunningSimulator, api_client: Any) -> None:
    divisions = _page_all(AuthorizationApi(api_client).get_authorization_divisions)

    assert [d.name for d in divisions] == ["Home", "Sales", "Customer Care"]
    assert [d.home_division for d in divisions] == [True, False, False]


def test_sdk_pages_details_query_and_matches_truth(sim: RunningSimulator, api_client: Any) -> None:
    analytics = AnalyticsApi(api_client)
    seen: list[Any] = []
    page = 1
    while True:
        body = ConversationQuery()
        body.interval = INTERVAL
        body.order = "asc"
        body.order_by = "conversationStart"
        body.paging = PagingSpec()
        body.paging.page_size = 100
        body.paging.page_number = page
        result = analytics.post_analytics_conversations_details_query(body)
        if not result.conversations:
            break
        seen.extend(result.conversations)
        page += 1

    starts_in_hour = [
        c
        for c in sim.center.conversations
        if "2024-05-01T11:00:00.000Z" <= c["conversationStart"] < "2024-05-01T12:00:00.000Z"
    ]
    seen_ids = {c.conversation_id for c in seen}
    assert len(seen) == result.total_hits
    assert {c["conversationId"] for c in starts_in_hour} <= seen_ids
    live = [c for c in seen if c.conversation_end is None]
    assert 0 < len(live) < len(seen)
    first = seen[0]
    assert first.conversation_start.tzinfo is not None
    assert first.participants[0].sessions[0].segments[0].segment_start <= NOW
    assert first.participants[0].purpose in {"customer", "agent"}


def test_sdk_reads_single_and_multi_get(sim: RunningSimulator, api_client: Any) -> None:
    analytics = AnalyticsApi(api_client)
    finished = [
        c["conversationId"]
        for c in sim.center.conversations
        if c["conversationEnd"] < "2024-05-01T11:30:00.000Z"
    ][:3]

    one = analytics.get_analytics_conversation_details(finished[0])
    many = analytics.get_analytics_conversations_details(id=finished)

    assert one.conversation_id == finished[0]
    assert one.conversation_end < NOW - timedelta(minutes=30)
    assert [c.conversation_id for c in many.conversations] == finished
