"""Integration tests: the simulator's realism behaviours (issue #3) over real HTTP on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from simulator.generator import ContactCenter, build_contact_center
from simulator.server import ExtraClient, RunningSimulator, SimulatorConfig, start_simulator

pytestmark = pytest.mark.integration

CLIENT_ID, CLIENT_SECRET = "etl-client", "etl-secret"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
QUERY = "/api/v2/analytics/conversations/details/query"
INTERVAL = "2024-05-01T09:00:00Z/2024-05-01T11:00:00Z"


def _record(index: int, division_id: str) -> dict[str, Any]:
    stamp = (datetime(2024, 5, 1, 10, 0, tzinfo=UTC) + timedelta(seconds=index)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    return {
        "conversationId": f"00000000-0000-4000-8000-{index:012d}",
        "conversationStart": stamp,
        "conversationEnd": stamp,
        "originatingDirection": "inbound",
        "divisionIds": [division_id],
        "participants": [],
    }


def _center(records: int) -> ContactCenter:
    """The generated org, with ``records`` simple conversations in its "Home" division."""
    org = build_contact_center(
        3, agents=20, start=NOW, end=NOW + timedelta(minutes=1), conversations_per_hour=0
    )
    home = org.divisions[0]["id"]
    return ContactCenter(
        divisions=org.divisions,
        skills=org.skills,
        queues=org.queues,
        users=org.users,
        wrapup_codes=org.wrapup_codes,
        conversations=tuple(_record(i, home) for i in range(records)),
    )


def _start(center: ContactCenter | None = None, **overrides: Any) -> RunningSimulator:
    config = SimulatorConfig(CLIENT_ID, CLIENT_SECRET, start=NOW, speed=0.0, **overrides)
    return start_simulator(config, center=center)


def _auth(base_url: str, client: tuple[str, str] = (CLIENT_ID, CLIENT_SECRET)) -> dict[str, str]:
    response = requests.post(
        f"{base_url}/oauth/token", auth=client, data={"grant_type": "client_credentials"}, timeout=5
    )
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _page(base_url: str, headers: dict[str, str], number: int, size: int = 1) -> requests.Response:
    body = {"interval": INTERVAL, "paging": {"pageSize": size, "pageNumber": number}}
    return requests.post(f"{base_url}{QUERY}", json=body, headers=headers, timeout=5)


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    running = _start(_center(30), rate_limit_per_minute=100_000)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _no_faults_left(sim: RunningSimulator) -> Iterator[None]:
    yield
    requests.delete(f"{sim.base_url}/simulator/faults", timeout=5)
    sim.clock.set(NOW)


def test_token_revoked_on_page_28_answers_401_once_then_200(sim: RunningSimulator) -> None:
    rule = {"path_prefix": QUERY, "status": 401, "page": 28}
    requests.post(f"{sim.base_url}/simulator/faults", json=rule, timeout=5).raise_for_status()
    headers = _auth(sim.base_url)

    statuses = [_page(sim.base_url, headers, n).status_code for n in (26, 27, 28)]
    same_token = _page(sim.base_url, headers, 28)
    renewed = _page(sim.base_url, _auth(sim.base_url), 28)

    assert statuses == [200, 200, 401]
    assert (same_token.status_code, same_token.json()["code"]) == (401, "bad.credentials")
    assert renewed.status_code == 200
    assert renewed.json()["conversations"][0]["conversationId"].endswith("000000000027")


def test_scheduled_503_burst_follows_the_virtual_clock(sim: RunningSimulator) -> None:
    rule = {
        "path_prefix": "/api/v2/analytics",
        "status": 503,
        "times": 2,
        "from": "2024-05-01T12:10:00Z",
        "until": "2024-05-01T12:12:00Z",
    }
    requests.post(f"{sim.base_url}/simulator/faults", json=rule, timeout=5).raise_for_status()
    headers = _auth(sim.base_url)

    before = _page(sim.base_url, headers, 1).status_code
    sim.clock.set(NOW + timedelta(minutes=11))
    during = [_page(sim.base_url, headers, 1).status_code for _ in range(3)]

    assert (before, during) == (200, [503, 503, 200])


def test_slow_fault_delays_the_answer_and_drop_closes_without_one(sim: RunningSimulator) -> None:
    rules = [
        {"path_prefix": "/api/v2/routing/skills", "delay_seconds": 0.3},
        {"path_prefix": "/api/v2/routing/queues", "drop": True},
    ]
    requests.post(f"{sim.base_url}/simulator/faults", json=rules, timeout=5).raise_for_status()
    headers = _auth(sim.base_url)

    started = time.perf_counter()
    slow = requests.get(f"{sim.base_url}/api/v2/routing/skills", headers=headers, timeout=5)
    elapsed = time.perf_counter() - started
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sim.base_url}/api/v2/routing/queues", headers=headers, timeout=5)

    assert (slow.status_code, len(slow.json()["entities"])) == (200, 8)
    assert elapsed >= 0.3


def test_date_header_follows_the_virtual_clock_across_midnight(sim: RunningSimulator) -> None:
    headers = _auth(sim.base_url)
    requests.post(
        f"{sim.base_url}/simulator/clock", json={"now": "2024-05-01T23:59:59Z"}, timeout=5
    ).raise_for_status()
    before = requests.get(f"{sim.base_url}/api/v2/routing/skills", headers=headers, timeout=5)
    sim.clock.set(datetime(2024, 5, 2, 0, 0, 1, tzinfo=UTC))
    after = requests.get(f"{sim.base_url}/api/v2/routing/skills", headers=headers, timeout=5)

    assert before.headers["Date"] == "Wed, 01 May 2024 23:59:59 GMT"
    assert after.headers["Date"] == "Thu, 02 May 2024 00:00:01 GMT"


def test_paging_cap_answers_400_with_error_body_over_http() -> None:
    with _start(_center(3), query_max_results=400) as running:
        response = _page(running.base_url, _auth(running.base_url), 5, size=100)

    body = response.json()
    assert (response.status_code, body["code"], body["status"]) == (400, "bad.request", 400)
    assert body["messageParams"] == {
        "maxResults": "400",
        "pageNumber": "5",
        "pageSize": "100",
        "lastResult": "500",
    }
    assert body["contextId"] == response.headers["ININ-Correlation-Id"]


def test_rate_limit_429_with_headers_and_stats_peak_per_client() -> None:
    with _start(_center(1), rate_limit_per_minute=3) as running:
        headers = _auth(running.base_url)
        answers = [
            requests.get(f"{running.base_url}/api/v2/routing/skills", headers=headers, timeout=5)
            for _ in range(4)
        ]
        stats = requests.get(f"{running.base_url}/simulator/stats", timeout=5).json()

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["inin-ratelimit-count"] for a in answers] == ["1", "2", "3", "3"]
    assert answers[-1].headers["inin-ratelimit-allowed"] == "3"
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    client = stats["clients"][CLIENT_ID]
    assert (client["requests"], client["statuses"]) == (4, {"200": 3, "429": 1})
    assert (client["peakPerVirtualMinute"], client["busiestVirtualMinute"]) == (
        4,
        "2024-05-01T12:00",
    )
    assert client["peakPerWallMinute"] in (3, 4)  # 4 unless a wall minute ended mid-test


def test_user_who_leaves_is_listed_only_with_state_any_as_deleted() -> None:
    with _start(None, seed=7, agents=20, conversations_per_hour=0, org_changes=1) as running:
        (change,) = running.app.org_changes
        headers = _auth(running.base_url)

        def listed(state: str | None) -> dict[str, str]:
            params = {"pageSize": 500, **({"state": state} if state else {})}
            users = requests.get(
                f"{running.base_url}/api/v2/users", params=params, headers=headers, timeout=5
            ).json()["entities"]
            return {u["id"]: u["state"] for u in users}

        running.clock.set(change.at - timedelta(seconds=1))
        before = listed(None)
        running.clock.set(change.at)
        after_active, after_any = listed(None), listed("any")

    assert (change.listing, change.kind) == ("users", "leave")
    assert before[change.entity_id] == "active"
    assert change.entity_id not in after_active
    assert after_any[change.entity_id] == "deleted"


def test_queue_renamed_over_virtual_time_and_entities_truth_has_final_names() -> None:
    with _start(None, seed=7, agents=20, conversations_per_hour=0, org_changes=2) as running:
        rename = running.app.org_changes[[c.kind for c in running.app.org_changes].index("rename")]
        headers = _auth(running.base_url)
        url = f"{running.base_url}/api/v2/routing/queues"
        running.clock.set(rename.at)
        queues = requests.get(url, headers=headers, timeout=5).json()["entities"]
        truth = requests.get(f"{running.base_url}/simulator/truth/entities", timeout=5).json()

    names = {q["id"]: q["name"] for q in queues}
    assert names[rename.entity_id] == rename.new_name
    assert {q["id"]: q["name"] for q in truth["entities"]["queues"]}[rename.entity_id] == (
        rename.new_name
    )
    assert sorted(c["kind"] for c in truth["changes"]) == ["leave", "rename"]


def test_client_without_a_division_never_sees_its_conversations_or_entities() -> None:
    center = _center(2)
    care = next(d for d in center.divisions if d["name"] == "Customer Care")
    hidden = _record(99, care["id"])
    center = ContactCenter(**{**center.__dict__, "conversations": (*center.conversations, hidden)})
    partner = ExtraClient("partner", "partner-secret", divisions=("Home",))
    with _start(center, extra_clients=(partner,)) as running:
        mine, theirs = (
            _auth(running.base_url),
            _auth(running.base_url, ("partner", "partner-secret")),
        )
        query = {"interval": INTERVAL}
        seen = {
            name: requests.post(f"{running.base_url}{QUERY}", json=query, headers=h, timeout=5)
            for name, h in (("etl", mine), ("partner", theirs))
        }
        by_id = requests.get(
            f"{running.base_url}/api/v2/analytics/conversations/{hidden['conversationId']}/details",
            headers=theirs,
            timeout=5,
        )
        divisions = requests.get(
            f"{running.base_url}/api/v2/authorization/divisions", headers=theirs, timeout=5
        ).json()["entities"]
        truth = requests.get(
            f"{running.base_url}/simulator/truth", params={"client_id": "partner"}, timeout=5
        ).json()["conversations"]

    assert (seen["etl"].json()["totalHits"], seen["partner"].json()["totalHits"]) == (3, 2)
    assert by_id.status_code == 404
    assert [d["name"] for d in divisions] == ["Home"]
    assert hidden["conversationId"] not in {c["conversationId"] for c in truth}
    assert len(truth) == 2


def test_realistic_profile_truth_holds_final_records_and_totals_are_approximate() -> None:
    config = SimulatorConfig.realistic(
        CLIENT_ID, CLIENT_SECRET, start=NOW, speed=0.0, agents=20, duration_minutes=30
    )
    with start_simulator(config) as running:
        headers = _auth(running.base_url)
        body = {
            "interval": "2024-05-01T11:30:00Z/2024-05-01T12:00:00Z",
            "paging": {"pageSize": 100},
        }
        live = requests.post(f"{running.base_url}{QUERY}", json=body, headers=headers, timeout=5)
        truth = requests.get(
            f"{running.base_url}/simulator/truth", params={"client_id": CLIENT_ID}, timeout=5
        ).json()["conversations"]
        store = running.app.store

    returned = live.json()
    reopened = [
        cid
        for cid, revisions in store.revisions.items()
        if revisions[0].record["conversationEnd"] != revisions[-1].record["conversationEnd"]
    ]
    # 768 conversations in the hour around 12:00, 547 in the client's divisions; 242 change
    # late, 22 of them e-mails re-opened. totalHits is approximate: 294 for a page of 100.
    assert (len(store), len(truth), len(store.revisions), len(reopened)) == (768, 547, 242, 22)
    assert (live.status_code, returned["totalHits"], len(returned["conversations"])) == (
        200,
        294,
        100,
    )
    assert {c["conversationId"] for c in returned["conversations"]} <= {
        r["conversationId"] for r in truth
    }
