"""Integration tests: the simulator over real HTTP on loopback, driven with ``requests``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from simulator.generator import ContactCenter, build_contact_center
from simulator.server import RunningSimulator, SimulatorConfig, start_simulator

pytestmark = pytest.mark.integration

CLIENT_ID, CLIENT_SECRET = "test-client", "test-secret"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
QUERY = "/api/v2/analytics/conversations/details/query"


def _record(index: int) -> dict[str, Any]:
    start = datetime(2024, 5, 1, 10, 0, tzinfo=UTC) + timedelta(seconds=index)
    stamp = start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "conversationId": f"00000000-0000-4000-8000-{index:012d}",
        "conversationStart": stamp,
        "conversationEnd": stamp,
        "originatingDirection": "inbound",
        "divisionIds": ["d1"],
        "participants": [],
    }


def _center(records: int) -> ContactCenter:
    org = build_contact_center(
        3, agents=60, start=NOW, end=NOW + timedelta(minutes=1), conversations_per_hour=0
    )
    return ContactCenter(
        divisions=org.divisions,
        skills=org.skills,
        queues=org.queues,
        users=org.users,
        wrapup_codes=org.wrapup_codes,
        conversations=tuple(_record(i) for i in range(records)),
    )


def _start(center: ContactCenter | None = None, **overrides: Any) -> RunningSimulator:
    config = SimulatorConfig(CLIENT_ID, CLIENT_SECRET, start=NOW, speed=0.0, **overrides)
    return start_simulator(config, center=center)


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = _start(_center(57))
    yield running
    running.stop()


def _token(base_url: str) -> str:
    response = requests.post(
        f"{base_url}/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    assert response.status_code == 200
    return response.json()["access_token"]


def _auth(base_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(base_url)}"}


def test_oauth_token_basic_auth_returns_bearer_token(sim: RunningSimulator) -> None:
    response = requests.post(
        f"{sim.base_url}/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["token_type"], body["expires_in"]) == ("bearer", 86400)
    assert len(body["access_token"]) > 20


def test_oauth_token_form_credentials_are_accepted(sim: RunningSimulator) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }

    assert requests.post(f"{sim.base_url}/oauth/token", data=form, timeout=5).status_code == 200


def test_oauth_token_wrong_secret_returns_401_invalid_client(sim: RunningSimulator) -> None:
    response = requests.post(
        f"{sim.base_url}/oauth/token",
        auth=(CLIENT_ID, "nope"),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )

    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "description": "authentication failed",
        "error_description": "authentication failed",
    }


def test_oauth_token_wrong_grant_returns_400(sim: RunningSimulator) -> None:
    response = requests.post(
        f"{sim.base_url}/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "password"},
        timeout=5,
    )

    assert response.status_code == 400


def test_api_without_token_returns_authentication_required(sim: RunningSimulator) -> None:
    response = requests.get(f"{sim.base_url}/api/v2/users", timeout=5)

    body = response.json()
    assert response.status_code == 401
    assert body["code"] == "authentication.required"
    assert body["message"] == "No authentication bearer token specified in authorization header."
    assert body["status"] == 401
    assert body["contextId"] == response.headers["ININ-Correlation-Id"]


def test_api_unknown_token_returns_bad_credentials(sim: RunningSimulator) -> None:
    response = requests.get(
        f"{sim.base_url}/api/v2/users", headers={"Authorization": "Bearer made-up"}, timeout=5
    )

    assert (response.status_code, response.json()["code"]) == (401, "bad.credentials")


def test_api_expired_token_returns_credentials_expired() -> None:
    with _start(_center(1), token_ttl_seconds=0.2) as running:
        headers = _auth(running.base_url)
        time.sleep(0.3)
        response = requests.get(f"{running.base_url}/api/v2/users", headers=headers, timeout=5)

    assert (response.status_code, response.json()["code"]) == (401, "credentials.expired")


def test_response_headers_carry_virtual_date_and_rate_limit(sim: RunningSimulator) -> None:
    response = requests.get(f"{sim.base_url}/api/v2/users", headers=_auth(sim.base_url), timeout=5)

    assert response.headers["Date"] == "Wed, 01 May 2024 12:00:00 GMT"
    assert response.headers["inin-ratelimit-count"] == "1"
    assert response.headers["inin-ratelimit-allowed"] == "300"
    assert 1 <= int(response.headers["inin-ratelimit-reset"]) <= 60


def test_details_query_pages_57_records_as_25_25_7_then_empty(sim: RunningSimulator) -> None:
    headers = _auth(sim.base_url)
    sizes, keys = [], []
    for page in range(1, 5):
        body = {
            "interval": "2024-05-01T09:00:00Z/2024-05-01T11:00:00Z",
            "paging": {"pageSize": 25, "pageNumber": page},
        }
        result = requests.post(
            f"{sim.base_url}{QUERY}", json=body, headers=headers, timeout=5
        ).json()
        sizes.append(len(result.get("conversations", [])))
        keys.append(sorted(result))

    assert sizes == [25, 25, 7, 0]
    assert keys[2] == ["conversations", "totalHits"]
    assert keys[3] == ["totalHits"]


def test_details_query_page_size_101_returns_400(sim: RunningSimulator) -> None:
    body = {"interval": "2024-05-01T09:00:00Z/2024-05-01T11:00:00Z", "paging": {"pageSize": 101}}

    response = requests.post(
        f"{sim.base_url}{QUERY}", json=body, headers=_auth(sim.base_url), timeout=5
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid.value"


def test_details_query_eight_day_interval_returns_400(sim: RunningSimulator) -> None:
    body = {"interval": "2024-05-01T00:00:00Z/2024-05-09T00:00:01Z"}

    response = requests.post(
        f"{sim.base_url}{QUERY}", json=body, headers=_auth(sim.base_url), timeout=5
    )

    assert (response.status_code, response.json()["code"]) == (400, "bad.request")


def test_details_by_id_and_multi_get(sim: RunningSimulator) -> None:
    headers = _auth(sim.base_url)
    known = _record(3)["conversationId"]
    one = requests.get(
        f"{sim.base_url}/api/v2/analytics/conversations/{known}/details", headers=headers, timeout=5
    )
    many = requests.get(
        f"{sim.base_url}/api/v2/analytics/conversations/details",
        params={"id": f"{known},unknown-id"},
        headers=headers,
        timeout=5,
    )
    missing = requests.get(
        f"{sim.base_url}/api/v2/analytics/conversations/unknown-id/details",
        headers=headers,
        timeout=5,
    )

    assert one.json()["conversationId"] == known
    assert [c["conversationId"] for c in many.json()["conversations"]] == [known]
    assert (missing.status_code, missing.json()["code"]) == (404, "not.found")


def test_unknown_path_returns_404_not_found(sim: RunningSimulator) -> None:
    response = requests.get(
        f"{sim.base_url}/api/v2/nowhere", headers=_auth(sim.base_url), timeout=5
    )

    assert (response.status_code, response.json()["code"]) == (404, "not.found")


@pytest.mark.parametrize(
    ("page", "has_previous", "has_next"),
    [(1, False, True), (2, True, True), (3, True, False)],
)
def test_users_listing_envelope_links_by_page(
    sim: RunningSimulator, page: int, has_previous: bool, has_next: bool
) -> None:
    response = requests.get(
        f"{sim.base_url}/api/v2/users",
        params={"pageSize": 25, "pageNumber": page, "state": "any"},
        headers=_auth(sim.base_url),
        timeout=5,
    )

    body = response.json()
    assert (body["total"], body["pageCount"], body["pageNumber"]) == (60, 3, page)
    assert len(body["entities"]) == (10 if page == 3 else 25)
    assert body["firstUri"] == "/api/v2/users?pageSize=25&pageNumber=1&state=any"
    assert body["selfUri"] == f"/api/v2/users?pageSize=25&pageNumber={page}&state=any"
    assert body["lastUri"] == "/api/v2/users?pageSize=25&pageNumber=3&state=any"
    assert ("previousUri" in body, "nextUri" in body) == (has_previous, has_next)


def test_users_listing_default_state_is_active_only(sim: RunningSimulator) -> None:
    headers = _auth(sim.base_url)
    active = requests.get(
        f"{sim.base_url}/api/v2/users", params={"pageSize": 500}, headers=headers, timeout=5
    ).json()
    every = requests.get(
        f"{sim.base_url}/api/v2/users",
        params={"pageSize": 500, "state": "any"},
        headers=headers,
        timeout=5,
    ).json()

    expected_active = sum(1 for user in sim.center.users if user["state"] == "active")
    assert active["total"] == expected_active
    assert {u["state"] for u in active["entities"]} == {"active"}
    assert every["total"] == len(sim.center.users)
    assert "deleted" in {u["state"] for u in every["entities"]}


@pytest.mark.parametrize(
    ("path", "too_big"),
    [
        ("/api/v2/routing/queues", 501),
        ("/api/v2/routing/wrapupcodes", 101),
        ("/api/v2/authorization/divisions", 101),
    ],
)
def test_listing_page_size_above_max_returns_400(
    sim: RunningSimulator, path: str, too_big: int
) -> None:
    response = requests.get(
        f"{sim.base_url}{path}",
        params={"pageSize": too_big},
        headers=_auth(sim.base_url),
        timeout=5,
    )

    assert response.status_code == 400


def test_listing_page_past_end_returns_empty_entities(sim: RunningSimulator) -> None:
    response = requests.get(
        f"{sim.base_url}/api/v2/routing/skills",
        params={"pageNumber": 9},
        headers=_auth(sim.base_url),
        timeout=5,
    )

    body = response.json()
    assert (body["entities"], body["total"], body["pageCount"]) == ([], 8, 1)
    assert "nextUri" not in body


def test_rate_limit_exceeded_returns_429_with_retry_after() -> None:
    with _start(_center(1), rate_limit_per_minute=3) as running:
        headers = _auth(running.base_url)
        statuses = [
            requests.get(f"{running.base_url}/api/v2/routing/skills", headers=headers, timeout=5)
            for _ in range(4)
        ]

    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    refused = statuses[-1]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused.json()["code"] == "too.many.requests.retry.after"
    assert refused.json()["message"] == (
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds"
    )


def test_fault_429_applies_to_next_two_matching_requests(sim: RunningSimulator) -> None:
    headers = _auth(sim.base_url)
    rule = {"path_prefix": "/api/v2/analytics", "status": 429, "times": 2, "retry_after": 1}
    assert requests.post(f"{sim.base_url}/simulator/faults", json=[rule], timeout=5).ok
    body = {"interval": "2024-05-01T09:00:00Z/2024-05-01T11:00:00Z"}

    answers = [
        requests.post(f"{sim.base_url}{QUERY}", json=body, headers=headers, timeout=5)
        for _ in range(3)
    ]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1"


def test_fault_503_leaves_other_paths_alone(sim: RunningSimulator) -> None:
    headers = _auth(sim.base_url)
    rule = {"path_prefix": "/api/v2/users", "status": 503, "times": 1}
    requests.post(f"{sim.base_url}/simulator/faults", json=[rule], timeout=5)

    skills = requests.get(f"{sim.base_url}/api/v2/routing/skills", headers=headers, timeout=5)
    users = requests.get(f"{sim.base_url}/api/v2/users", headers=headers, timeout=5)

    assert (skills.status_code, users.status_code) == (200, 503)
    assert users.json()["code"] == "service.unavailable"


def test_fault_401_after_three_revokes_token(sim: RunningSimulator) -> None:
    headers = _auth(sim.base_url)
    rule = {"path_prefix": "/api/v2/analytics", "status": 401, "times": 1, "after": 3}
    requests.post(f"{sim.base_url}/simulator/faults", json=[rule], timeout=5)
    url = f"{sim.base_url}/api/v2/analytics/conversations/details?id=x"

    statuses = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(5)]
    fresh = requests.get(url, headers=_auth(sim.base_url), timeout=5)

    assert statuses == [200, 200, 200, 401, 401]
    assert fresh.status_code == 200


def test_fault_invalid_rule_returns_400_naming_field(sim: RunningSimulator) -> None:
    response = requests.post(
        f"{sim.base_url}/simulator/faults", json=[{"path_prefix": "/api", "status": 200}], timeout=5
    )

    assert response.status_code == 400
    assert "status must be an int 400-599, got 200" in response.json()["message"]


def test_fault_delete_clears_rules(sim: RunningSimulator) -> None:
    headers = _auth(sim.base_url)
    rule = {"path_prefix": "/api/v2/routing", "status": 500, "times": 5}
    requests.post(f"{sim.base_url}/simulator/faults", json=rule, timeout=5)
    requests.delete(f"{sim.base_url}/simulator/faults", timeout=5)

    response = requests.get(f"{sim.base_url}/api/v2/routing/queues", headers=headers, timeout=5)

    assert response.status_code == 200


def test_truth_bounds_filter_on_conversation_start(sim: RunningSimulator) -> None:
    response = requests.get(
        f"{sim.base_url}/simulator/truth",
        params={"start": "2024-05-01T10:00:10Z", "end": "2024-05-01T10:00:20Z"},
        timeout=5,
    )

    ids = [c["conversationId"] for c in response.json()["conversations"]]
    assert ids == [_record(i)["conversationId"] for i in range(10, 20)]


def test_clock_and_stats_endpoints(sim: RunningSimulator) -> None:
    clock = requests.get(f"{sim.base_url}/simulator/clock", timeout=5).json()
    requests.get(f"{sim.base_url}/api/v2/does-not-exist", timeout=5)
    stats = requests.get(f"{sim.base_url}/simulator/stats", timeout=5).json()

    assert clock == {"now": "2024-05-01T12:00:00.000Z"}
    assert stats["requests"]["GET /api/v2/does-not-exist"]["401"] >= 1


def test_generated_conversations_change_between_polls() -> None:
    with _start(None, seed=5, agents=20, conversations_per_hour=600) as running:
        headers = _auth(running.base_url)
        body = {
            "interval": "2024-05-01T11:50:00Z/2024-05-01T12:00:00Z",
            "paging": {"pageSize": 100},
        }
        first = requests.post(f"{running.base_url}{QUERY}", json=body, headers=headers, timeout=5)
        running.clock.set(NOW + timedelta(minutes=30))
        later = requests.post(f"{running.base_url}{QUERY}", json=body, headers=headers, timeout=5)

    live_before = [c for c in first.json()["conversations"] if "conversationEnd" not in c]
    still_live = {
        c["conversationId"] for c in later.json()["conversations"] if "conversationEnd" not in c
    }
    assert len(live_before) > 0
    assert len(still_live) < len(live_before)


def test_start_simulator_refuses_non_loopback_host() -> None:
    config = SimulatorConfig(CLIENT_ID, CLIENT_SECRET, host="0.0.0.0")

    with pytest.raises(ValueError, match="not a loopback address"):
        start_simulator(config, center=_center(0))
