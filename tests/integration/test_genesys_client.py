"""Integration tests: `GenesysClient` against the in-process Genesys simulator on loopback.

One simulator serves the module, frozen at `NOW` (speed 0) so that the details query answers the
same pages every time. Fault rules injected through `/simulator/faults` play the throttling,
server errors and revoked tokens; they are cleared after every test. Each test builds its own
client, hence its own token, and compares server request counts before and after.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from app.config import GenesysSettings, Secret
from app.errors import FatalApiError, PagingCapError, RetriableApiError
from connectors.genesys.client import DETAILS_QUERY_PATH, GenesysClient, forget_shared_tokens
from connectors.genesys.source import CapturePartition, GenesysStreamReader
from connectors.genesys.windows import format_instant
from simulator.server import RunningSimulator, SimulatorConfig, start_simulator
from simulator.view import matches_interval, view_at

pytestmark = pytest.mark.integration

CLIENT_ID = "etl-client-under-test"
CLIENT_SECRET = "s3cr3t-Zq8vW2-never-log-me"
NOW = datetime(2026, 12, 4, 10, 2, tzinfo=UTC)
TOKEN_PATH = "POST /oauth/token"
QUERY_KEY = f"POST {DETAILS_QUERY_PATH}"


def center_config(**overrides: Any) -> SimulatorConfig:
    """A frozen 40-agent center with an hour of history before `NOW`."""
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "seed": 3,
        "start": NOW,
        "speed": 0.0,
        "agents": 40,
        "conversations_per_hour": 600,
        "history_minutes": 60,
        "duration_minutes": 10,
        "rate_limit_per_minute": 100_000,
        "token_ttl_seconds": 86_400,
    }
    return SimulatorConfig(**{**settings, **overrides})


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with start_simulator(center_config(), center=None) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults_left(sim: RunningSimulator) -> Iterator[None]:
    yield
    requests.delete(f"{sim.base_url}/simulator/faults", timeout=10).raise_for_status()


class Sleeps(list[float]):
    """Records the waits the client asks for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(
    sim: RunningSimulator, secret: str = CLIENT_SECRET, **overrides: Any
) -> tuple[GenesysClient, Sleeps]:
    settings = GenesysSettings(
        api_base_url=sim.base_url,
        login_base_url=sim.base_url,
        client_id=CLIENT_ID,
        client_secret=Secret(secret),
        **overrides,
    )
    sleeps = Sleeps()
    forget_shared_tokens()  # each test counts its own logins
    return GenesysClient(settings, sleep=sleeps), sleeps


def add_faults(sim: RunningSimulator, *rules: dict[str, Any]) -> None:
    response = requests.post(f"{sim.base_url}/simulator/faults", json=list(rules), timeout=10)
    response.raise_for_status()


def server_counts(sim: RunningSimulator) -> dict[str, dict[str, int]]:
    response = requests.get(f"{sim.base_url}/simulator/stats", timeout=10)
    response.raise_for_status()
    return response.json()["requests"]


def count_since(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], key: str, status: int
) -> int:
    return after.get(key, {}).get(str(status), 0) - before.get(key, {}).get(str(status), 0)


def expected_ids(sim: RunningSimulator, start: datetime, end: datetime) -> set[str]:
    """The conversations the details query must return at `NOW`, from the store's truth."""
    ids = set()
    for record in sim.app.store.final():
        view = view_at(record, NOW)
        if view is not None and matches_interval(view, start, end):
            ids.add(record["conversationId"])
    return ids


# -- authentication ------------------------------------------------------------------------------


def test_token_several_requests_fetched_once(sim: RunningSimulator) -> None:
    client, _ = make_client(sim)
    before = server_counts(sim)

    for _ in range(4):
        client.request("GET", "/api/v2/authorization/divisions", params={"pageSize": 1})

    after = server_counts(sim)
    assert count_since(before, after, TOKEN_PATH, 200) == 1
    assert count_since(before, after, "GET /api/v2/authorization/divisions", 200) == 4
    assert client.stats.token_refreshes == 1


def test_token_two_clients_of_one_process_log_in_once(sim: RunningSimulator) -> None:
    first, _ = make_client(sim)
    before = server_counts(sim)

    first.request("GET", "/api/v2/routing/wrapupcodes")
    second = GenesysClient(first.settings)
    second.request("GET", "/api/v2/routing/wrapupcodes")

    after = server_counts(sim)
    assert count_since(before, after, TOKEN_PATH, 200) == 1
    assert (first.stats.token_refreshes, second.stats.token_refreshes) == (1, 0)


def test_token_lifetime_within_renew_margin_renewed_before_each_request() -> None:
    # A 59 s token is already inside the 60 s renew margin when it arrives: never reused.
    config = SimulatorConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        start=NOW,
        speed=0.0,
        agents=5,
        conversations_per_hour=10,
        token_ttl_seconds=59,
    )
    with start_simulator(config, center=None) as short_lived:
        client, _ = make_client(short_lived)
        before = server_counts(short_lived)

        for _ in range(3):
            client.request("GET", "/api/v2/authorization/divisions", params={"pageSize": 1})

        after = server_counts(short_lived)
    assert count_since(before, after, TOKEN_PATH, 200) == 3
    assert client.stats.token_refreshes == 3


def test_token_bad_secret_fatal_error_names_client_not_secret(sim: RunningSimulator) -> None:
    wrong_secret = "wrong-Secret-7f3a9c-do-not-show"
    client, sleeps = make_client(sim, secret=wrong_secret)

    with pytest.raises(FatalApiError) as caught:
        client.request("GET", "/api/v2/authorization/divisions")

    message = str(caught.value)
    assert repr(CLIENT_ID) in message
    assert wrong_secret not in message
    assert CLIENT_SECRET not in message
    assert caught.value.status == 401
    assert sleeps == []


def test_token_login_throttled_raises_retriable_error(sim: RunningSimulator) -> None:
    add_faults(sim, {"path_prefix": "/oauth/token", "status": 429, "times": 1})
    client, _ = make_client(sim)

    with pytest.raises(RetriableApiError) as caught:
        client.request("GET", "/api/v2/authorization/divisions")

    assert caught.value.status == 429


def test_token_revoked_mid_request_refreshed_once_and_same_request_retried(
    sim: RunningSimulator,
) -> None:
    client, _ = make_client(sim)
    client.request("GET", "/api/v2/routing/queues", params={"pageSize": 1})
    add_faults(sim, {"path_prefix": "/api/v2/routing/queues", "status": 401, "times": 1})
    before = server_counts(sim)

    page = client.request("GET", "/api/v2/routing/queues", params={"pageSize": 1})

    after = server_counts(sim)
    assert page["pageNumber"] == 1
    assert count_since(before, after, TOKEN_PATH, 200) == 1
    assert count_since(before, after, "GET /api/v2/routing/queues", 401) == 1
    assert count_since(before, after, "GET /api/v2/routing/queues", 200) == 1
    assert client.stats.token_refreshes == 2


def test_token_second_401_after_refresh_fatal_error(sim: RunningSimulator) -> None:
    add_faults(sim, {"path_prefix": "/api/v2/routing/skills", "status": 401, "times": 2})
    client, sleeps = make_client(sim)
    before = server_counts(sim)

    with pytest.raises(FatalApiError) as caught:
        client.request("GET", "/api/v2/routing/skills")

    after = server_counts(sim)
    assert caught.value.status == 401
    assert count_since(before, after, TOKEN_PATH, 200) == 2
    assert count_since(before, after, "GET /api/v2/routing/skills", 401) == 2
    assert sleeps == []


# -- paging of the details query ----------------------------------------------------------------


def test_details_query_several_pages_each_conversation_once(sim: RunningSimulator) -> None:
    start, end = NOW - timedelta(minutes=15), NOW
    expected = expected_ids(sim, start, end)
    # Pages until a short one; a last full page is followed by the empty page that ends it.
    pages = len(expected) // 25 + 1
    assert pages >= 3, "the simulator data must span several pages for this test to mean much"
    client, _ = make_client(sim, page_size=25)
    before = server_counts(sim)

    ids = [record["conversationId"] for record in client.query_conversation_details(start, end)]

    after = server_counts(sim)
    assert len(ids) == len(expected)
    assert set(ids) == expected
    assert count_since(before, after, QUERY_KEY, 200) == pages
    assert client.stats.pages == pages


def test_details_query_401_on_page_28_refreshes_token_and_retries_page(
    sim: RunningSimulator,
) -> None:
    start, end = NOW - timedelta(minutes=45), NOW
    expected = expected_ids(sim, start, end)
    pages = len(expected) // 10 + 1
    assert pages > 28, "the data must have more than 28 pages at page size 10"
    add_faults(
        sim,
        {
            "path_prefix": DETAILS_QUERY_PATH,
            "method": "POST",
            "status": 401,
            "times": 1,
            "after": 27,
        },
    )
    client, _ = make_client(sim, page_size=10)
    before = server_counts(sim)

    ids = [record["conversationId"] for record in client.query_conversation_details(start, end)]

    after = server_counts(sim)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert count_since(before, after, TOKEN_PATH, 200) == 2
    assert count_since(before, after, QUERY_KEY, 401) == 1
    assert count_since(before, after, QUERY_KEY, 200) == pages
    assert client.stats.token_refreshes == 2


def test_details_query_total_hits_above_paging_cap_split_until_each_half_fits() -> None:
    """A 45-minute window of ~300 conversations against a cap of 200 results per query: the
    client splits it instead of paging into the 400, and every conversation arrives."""
    start, end = NOW - timedelta(minutes=45), NOW
    with start_simulator(center_config(query_max_results=200), center=None) as capped:
        expected = expected_ids(capped, start, end)
        assert len(expected) > 200, "the window must hold more than the cap"
        client, _ = make_client(capped, page_size=10, max_results=200)
        before = server_counts(capped)

        ids = [record["conversationId"] for record in client.query_conversation_details(start, end)]

        after = server_counts(capped)
    assert set(ids) == expected
    assert count_since(before, after, QUERY_KEY, 400) == 0
    assert client.stats.splits >= 1


def _one_second_partition(capture_pass: str) -> CapturePartition:
    """A 1-second interval half an hour before NOW: every conversation active then, about 50,
    and too short to split."""
    start = NOW - timedelta(minutes=30)
    return CapturePartition(
        "conversations",
        format_instant(start),
        format_instant(start + timedelta(seconds=1)),
        batch_key=format_instant(NOW),
        window_start=format_instant(NOW - timedelta(minutes=3)),
        window_end=format_instant(NOW),
        capture_pass=capture_pass,
    )


def _capped_reader(sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> GenesysStreamReader:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
    options = {"api_base_url": sim.base_url, "client_id": CLIENT_ID, "max_results": "20"}
    return GenesysStreamReader(options)


def test_sweep_partition_beyond_paging_cap_recorded_incomplete_not_failed(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = list(_capped_reader(sim, monkeypatch).read(_one_second_partition("sweep")))

    assert [row[0] for row in rows] == ["_control"]
    control = json.loads(rows[0][2])
    assert (control["capture_pass"], control["records"], control["pages"]) == ("sweep", 0, 1)
    assert "too many to page through under the cap of 20" in control["incomplete"]


def test_window_partition_beyond_paging_cap_fails_the_batch(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PagingCapError, match="under the cap of 20"):
        list(_capped_reader(sim, monkeypatch).read(_one_second_partition("window")))


def test_details_query_interval_sent_in_genesys_format(sim: RunningSimulator) -> None:
    start = datetime(2026, 12, 4, 9, 47, 0, 123_456, tzinfo=UTC)
    end = NOW
    sent: list[bytes] = []
    client, _ = make_client(sim, page_size=100)
    client.http.hooks["response"].append(lambda response, **_: sent.append(response.request.body))

    ids = {record["conversationId"] for record in client.query_conversation_details(start, end)}

    assert ids == expected_ids(sim, start, end)
    assert b'"interval": "2026-12-04T09:47:00.123Z/2026-12-04T10:02:00.000Z"' in sent[-1]


def test_multi_get_150_ids_two_chunks_each_record_once(sim: RunningSimulator) -> None:
    wanted = sorted(expected_ids(sim, NOW - timedelta(minutes=45), NOW))[:150]
    assert len(wanted) == 150
    client, _ = make_client(sim)
    before = server_counts(sim)

    ids = [record["conversationId"] for record in client.get_conversations(wanted)]

    after = server_counts(sim)
    assert sorted(ids) == wanted
    assert count_since(before, after, "GET /api/v2/analytics/conversations/details", 200) == 2
    assert client.stats.pages == 2


# -- throttling and server errors ---------------------------------------------------------------


def test_request_429_twice_sleeps_retry_after_plus_one_then_succeeds(
    sim: RunningSimulator,
) -> None:
    add_faults(
        sim, {"path_prefix": "/api/v2/analytics", "status": 429, "times": 2, "retry_after": 1}
    )
    client, sleeps = make_client(sim, page_size=5)

    first = next(client.query_conversation_details(NOW - timedelta(minutes=5), NOW))

    assert first["conversationId"] in expected_ids(sim, NOW - timedelta(minutes=5), NOW)
    assert sleeps == [2.0, 2.0]
    assert client.stats.throttled == 2
    assert client.stats.retries == 2


def test_request_retry_after_above_maximum_retriable_error_without_sleep(
    sim: RunningSimulator,
) -> None:
    add_faults(sim, {"path_prefix": "/api/v2/users", "status": 429, "times": 1, "retry_after": 30})
    client, sleeps = make_client(sim, max_retry_after_seconds=10.0)

    with pytest.raises(RetriableApiError) as caught:
        client.request("GET", "/api/v2/users")

    assert caught.value.status == 429
    assert sleeps == []
    assert client.stats.throttled == 1


def test_request_503_once_on_listing_retried_and_succeeds(sim: RunningSimulator) -> None:
    add_faults(sim, {"path_prefix": "/api/v2/users", "status": 503, "times": 1})
    client, sleeps = make_client(sim)

    users = list(client.list_entities("/api/v2/users", {"state": "any"}))

    assert len(users) == len(sim.center.users)
    assert client.stats.server_errors == 1
    assert client.stats.retries == 1
    assert len(sleeps) == 1


def test_request_5xx_beyond_max_retries_retriable_error(sim: RunningSimulator) -> None:
    add_faults(sim, {"path_prefix": "/api/v2/routing/wrapupcodes", "status": 502, "times": 3})
    client, sleeps = make_client(sim, max_retries=2)
    before = server_counts(sim)

    with pytest.raises(RetriableApiError) as caught:
        client.request("GET", "/api/v2/routing/wrapupcodes")

    after = server_counts(sim)
    assert caught.value.status is None
    assert count_since(before, after, "GET /api/v2/routing/wrapupcodes", 502) == 3
    assert client.stats.server_errors == 3
    assert len(sleeps) == 2


def test_request_501_fatal_error_without_retry(sim: RunningSimulator) -> None:
    add_faults(sim, {"path_prefix": "/api/v2/routing/wrapupcodes", "status": 501, "times": 1})
    client, sleeps = make_client(sim)

    with pytest.raises(FatalApiError) as caught:
        client.request("GET", "/api/v2/routing/wrapupcodes")

    assert caught.value.status == 501
    assert sleeps == []


def test_request_400_page_size_above_maximum_fatal_error_without_retry(
    sim: RunningSimulator,
) -> None:
    client, sleeps = make_client(sim)
    before = server_counts(sim)

    with pytest.raises(FatalApiError) as caught:
        list(client.list_entities("/api/v2/users", page_size=501))

    after = server_counts(sim)
    assert caught.value.status == 400
    assert caught.value.code == "invalid.value"
    assert count_since(before, after, "GET /api/v2/users", 400) == 1
    assert client.stats.retries == 0
    assert sleeps == []


# -- listings and the server clock ---------------------------------------------------------------


def test_list_entities_users_state_any_pages_until_page_count(sim: RunningSimulator) -> None:
    users = sim.center.users
    deleted = {user["id"] for user in users if user.get("state") == "deleted"}
    assert deleted, "the generated org must have deleted users for this test to mean much"
    client, _ = make_client(sim)
    before = server_counts(sim)

    listed = list(client.list_entities("/api/v2/users", {"state": "any"}, page_size=7))

    after = server_counts(sim)
    ids = [user["id"] for user in listed]
    assert len(ids) == len(users)
    assert client.stats.listed_total == len(users)
    assert set(ids) == {user["id"] for user in users}
    assert deleted <= set(ids)
    assert count_since(before, after, "GET /api/v2/users", 200) == math.ceil(len(users) / 7)


def test_list_entities_code_removed_while_paging_listed_total_unknown() -> None:
    with start_simulator(center_config(org_changes=5), center=None) as running:
        removal = next(
            change
            for change in running.app.org_changes
            if (change.listing, change.kind) == ("wrapup_codes", "remove")
        )
        running.clock.set(removal.at - timedelta(seconds=1))
        client, _ = make_client(running)
        whole = list(client.list_entities("/api/v2/routing/wrapupcodes", page_size=2))
        total_before = client.stats.listed_total
        pages = client.list_entities("/api/v2/routing/wrapupcodes", page_size=2)
        first = next(pages)
        running.clock.set(removal.at)  # the code goes between pages 1 and 2
        rest = list(pages)

    assert total_before == len(whole) >= 3
    assert first["id"] == whole[0]["id"]
    assert len(rest) >= 1
    assert client.stats.listed_total is None


def test_server_now_virtual_clock_instant(sim: RunningSimulator) -> None:
    client, _ = make_client(sim)

    assert client.server_now() == NOW


# -- secrets stay out of logs --------------------------------------------------------------------


def test_logs_token_and_secret_never_in_any_record(
    sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    tokens: list[str] = []

    def remember_token(response: requests.Response, **_: object) -> None:
        if response.url.endswith("/oauth/token") and response.status_code == 200:
            tokens.append(response.json()["access_token"])

    add_faults(
        sim,
        {"path_prefix": "/api/v2/routing/queues", "status": 401, "times": 1},
        {"path_prefix": "/api/v2/routing/queues", "status": 429, "times": 1, "retry_after": 0},
        {"path_prefix": "/api/v2/routing/queues", "status": 503, "times": 1},
    )
    caplog.set_level(logging.DEBUG)
    client, _ = make_client(sim)
    client.http.hooks["response"].append(remember_token)
    bad_client, _ = make_client(sim, secret="another-Wrong-secret-41d")

    queues = list(client.list_entities("/api/v2/routing/queues"))
    client.server_now()
    with pytest.raises(FatalApiError):
        bad_client.server_now()

    assert len(queues) == len(sim.center.queues)
    assert len(tokens) == 2
    client_records = [r for r in caplog.records if r.name.startswith("connectors.genesys")]
    assert len(client_records) >= 4
    texts = [record.getMessage() for record in caplog.records]
    for secret in [*tokens, CLIENT_SECRET, "another-Wrong-secret-41d"]:
        assert [text for text in texts if secret in text] == []
