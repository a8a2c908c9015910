"""Calls that cross midnight UTC: the details query finds a conversation only through intervals
that touch the day it started, so windows of the new day cannot see a call from before it.

Three ways in: the watchlist follows a call that a window saw live before midnight; the sweep
finds a call that was first indexed after midnight, which no window found at all; and once the
sweep horizon has left a day, its day-end query still finds that day's conversations re-opened.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo import MongoClient

from connectors.genesys.source import GenesysStreamReader
from connectors.genesys.windows import format_instant
from connectors.mongo.raw_store import RawStore
from simulator.indexing import Revision
from simulator.server import RunningSimulator, SimulatorConfig, start_simulator
from tests.integration.conftest import DbNames
from tests.support.calls import fixture_center, inbound_voice_call
from tests.support.pipeline import PipelineRun, run_bounded

pytestmark = pytest.mark.integration

CLIENT_ID = "midnight-client"
CLIENT_SECRET = secrets.token_urlsafe(16)  # made per run: no secret literal
MIDNIGHT = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
LATE_CALL = "5eeeeeee-0000-4000-8000-000000000001"
EARLY_CALL = "5eeeeeee-0000-4000-8000-000000000002"
REOPENED = "5eeeeeee-0000-4000-8000-000000000003"
TRIGGER = timedelta(minutes=2)


@pytest.fixture
def lagging_sim() -> Iterator[RunningSimulator]:
    """A frozen clock the test moves, and 150 s of indexing lag on every conversation."""
    center = fixture_center()
    calls = [
        # Starts 20 s before midnight; the API shows it first at 00:02:10.
        inbound_voice_call(center, LATE_CALL, MIDNIGHT - timedelta(seconds=20),
                           MIDNIGHT + timedelta(minutes=4)),
        inbound_voice_call(center, EARLY_CALL, MIDNIGHT - timedelta(minutes=8),
                           MIDNIGHT - timedelta(minutes=5)),
    ]  # fmt: skip
    config = SimulatorConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        start=MIDNIGHT - timedelta(minutes=10),
        speed=0.0,
        latency_seconds=150,
        rate_limit_per_minute=100_000,
    )
    with start_simulator(config, center=fixture_center(*calls)) as running:
        yield running


def _set_clock(sim: RunningSimulator, now: datetime) -> None:
    answer = requests.post(
        f"{sim.base_url}/simulator/clock", json={"now": format_instant(now)}, timeout=10
    )
    answer.raise_for_status()


def _sweeping_reader(sim: RunningSimulator, **options: str) -> GenesysStreamReader:
    """A capture reader with a 1-hour sweep horizon and no listings in the batches polled."""
    return GenesysStreamReader(
        {
            "api_base_url": sim.base_url,
            "client_id": CLIENT_ID,
            "dimension_refresh_seconds": str(7 * 86_400),
            "sweep_horizon_seconds": "3600",
            **options,
        }
    )


def _poll(reader: GenesysStreamReader, end: datetime) -> list[dict[str, Any]]:
    """Plan and read one capture batch ending at `end`, as Spark would; rows as dicts."""
    names = ("endpoint", "entity_id", "payload", "batch_key", "window_start", "window_end",
             "fetched_at", "capture_pass")  # fmt: skip
    rows = []
    for partition in reader.partitions(
        {"until": format_instant(end - TRIGGER)}, {"until": format_instant(end)}
    ):
        rows += [dict(zip(names, row, strict=True)) for row in reader.read(partition)]
    return rows


def _capture_batch(
    sim: RunningSimulator, reader: GenesysStreamReader, store: RawStore, end: datetime, seq: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Move the clock to `end`, poll the batch ending there and land its conversations as
    landing `seq`, complete as jobs/capture.py leaves it; (rows, landing counts)."""
    _set_clock(sim, end)
    rows = [row for row in _poll(reader, end) if row["endpoint"] == "conversations"]
    counts = dict(store.land(rows, land_seq=seq))
    store.mark_complete(format_instant(end), seq, counts, {"partitions": 1})
    return rows, counts


def test_sweep_finds_call_first_indexed_after_midnight_that_no_window_found(
    lagging_sim: RunningSimulator,
    mongo_uri: str,
    mongo_client: MongoClient[dict[str, Any]],
    fresh_db_names: DbNames,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
    reader = _sweeping_reader(lagging_sim, sweep_seconds="600")
    store = RawStore(mongo_uri, fresh_db_names.raw)
    store.ensure_indexes()
    seen: dict[str, set[str]] = {"window": set(), "sweep": set()}
    landed: dict[str, dict[str, int]] = {}
    try:
        end = MIDNIGHT - timedelta(minutes=4)
        while end <= MIDNIGHT + timedelta(minutes=10):
            rows, counts = _capture_batch(lagging_sim, reader, store, end, len(landed) + 1)
            for row in rows:
                seen[row["capture_pass"]].add(row["entity_id"])
            landed[format_instant(end)] = counts
            end += TRIGGER
    finally:
        store.close()

    assert seen == {"window": {EARLY_CALL}, "sweep": {EARLY_CALL, LATE_CALL}}
    # Sweeps are due in the batches that cross 00:00 and 00:10. At 00:00 the late call is not
    # indexed yet; the early call, stored already by the windows, is never landed again.
    assert landed["2026-12-02T00:00:00.000Z"] == {"sweep_unchanged": 1}
    assert landed["2026-12-02T00:10:00.000Z"] == {"conversations": 1, "sweep_unchanged": 1}
    versions = mongo_client[fresh_db_names.raw]["conversations"]
    late = list(versions.find({"entity_id": LATE_CALL}))
    assert [doc["payload"]["conversationEnd"] for doc in late] == ["2026-12-02T00:04:00.000Z"]


def _reopened_sim() -> RunningSimulator:
    """A conversation of Dec 1, 20:00 to 20:30, re-opened on Dec 2 at 07:45 and ended again at
    08:30: the index serves the first state until 07:45, the final one (trimmed to the clock,
    so open until 08:30) from then on."""
    center = fixture_center()
    start = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    first = inbound_voice_call(center, REOPENED, start, start + timedelta(minutes=30))
    final = inbound_voice_call(center, REOPENED, start, datetime(2026, 12, 2, 8, 30, tzinfo=UTC))
    config = SimulatorConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        start=start,
        speed=0.0,
        rate_limit_per_minute=100_000,
    )
    revisions = {
        REOPENED: (
            Revision("2026-12-01T20:00:00.000Z", first),
            Revision("2026-12-02T07:45:00.000Z", final),
        )
    }
    return start_simulator(config, center=fixture_center(final), revisions=revisions)


@pytest.mark.parametrize(
    ("sweep_days", "expected_ends"),
    [
        # The batch crossing 08:00 finds it open again, the one crossing 09:00 ended again.
        ("1", [None, "2026-12-01T20:30:00.000Z", "2026-12-02T08:30:00.000Z"]),
        # Without day-end queries, neither the window nor the 1-hour sweep touches Dec 1.
        ("0", ["2026-12-01T20:30:00.000Z"]),
    ],
)
def test_conversation_reopened_after_sweep_horizon_left_its_start_day_found_by_day_end_query(
    sweep_days: str,
    expected_ends: list[str | None],
    mongo_uri: str,
    mongo_client: MongoClient[dict[str, Any]],
    fresh_db_names: DbNames,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
    store = RawStore(mongo_uri, fresh_db_names.raw)
    store.ensure_indexes()
    try:
        with _reopened_sim() as sim:
            reader = _sweeping_reader(
                sim, sweep_seconds="1800", sweep_days=sweep_days, start="2026-12-01T20:00:00Z"
            )
            for seq, hour in enumerate(
                [datetime(2026, 12, 1, 20, 30, tzinfo=UTC)]
                + [datetime(2026, 12, 2, h, 0, tzinfo=UTC) for h in (8, 9)]
            ):
                _capture_batch(sim, reader, store, hour, seq + 1)
    finally:
        store.close()

    versions = mongo_client[fresh_db_names.raw]["conversations"].find({"entity_id": REOPENED})
    ends = sorted(
        (doc["payload"].get("conversationEnd") for doc in versions), key=lambda end: end or ""
    )
    assert ends == expected_ends


@pytest.fixture(scope="module")
def live_midnight_run(
    spark: Any, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The issue's call, 23:58:10Z to 00:03:02.001Z, through both queries with a running clock."""
    work: Path = tmp_path_factory.mktemp("midnight")
    secret_file = work / "secret"
    secret_file.write_text(CLIENT_SECRET)
    start = datetime(2026, 12, 1, 23, 58, 10, tzinfo=UTC)
    center = fixture_center()
    call = inbound_voice_call(center, LATE_CALL, start, MIDNIGHT + timedelta(seconds=182.001))
    config = SimulatorConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        start=datetime(2026, 12, 1, 23, 57, tzinfo=UTC),
        speed=0.0,  # moved by `_drive_clock` once the queries run
        latency_seconds=5,
        rate_limit_per_minute=100_000,
    )
    suffix = secrets.token_hex(4)
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        with start_simulator(config, center=fixture_center(call)) as simulator:
            run = PipelineRun(
                api_url=simulator.base_url,
                client_id=CLIENT_ID,
                secret_file=secret_file,
                mongo_uri=mongo_uri,
                raw_database=f"raw_{suffix}",
                dwh_database=f"dwh_{suffix}",
                start=datetime(2026, 12, 1, 23, 57, tzinfo=UTC),
                # Past the end and the 10-minute settle time.
                end=datetime(2026, 12, 2, 0, 15, tzinfo=UTC),
                checkpoints=work / "checkpoints",
                extra_env={"CAPTURE_SWEEP_SECONDS": "0"},  # the watchlist alone
            )
            stop = threading.Event()
            driver = threading.Thread(
                target=_drive_clock,
                args=(spark, simulator, run.end, stop, client[run.raw_database]),
                daemon=True,
            )
            driver.start()
            try:
                code = run_bounded(spark, run)
            finally:
                stop.set()
                driver.join(timeout=10)
        raw, dwh = client[run.raw_database], client[run.dwh_database]
        yield {
            "code": code,
            "versions": list(raw.conversations.find({"entity_id": LATE_CALL})),
            "fact": dwh.fact_call.find_one({"conversation_id": LATE_CALL}),
            "watchlist": list(raw.watchlist.find({})),
        }
    finally:
        client.drop_database(f"raw_{suffix}")
        client.drop_database(f"dwh_{suffix}")
        client.close()


def _drive_clock(
    spark: Any, sim: RunningSimulator, end: datetime, stop: threading.Event, raw: Any
) -> None:
    """Hold the clock until both queries run (Spark's start-up takes a varying while), then
    move it 20 virtual seconds at a time, and again only once the capture has landed a batch
    that ends there: the call is polled live before midnight however slow the machine is."""
    while len(spark.streams.active) < 2 and not stop.is_set():
        time.sleep(0.2)
    now = datetime(2026, 12, 1, 23, 57, tzinfo=UTC)
    while now < end and not stop.is_set():
        now = min(now + timedelta(seconds=20), end)
        _set_clock(sim, now)
        reached, deadline = format_instant(now), time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            if raw.ingest_batches.find_one({"_id": {"$gte": reached}}, {"_id": 1}):
                break
            time.sleep(0.2)


def test_call_across_midnight_seen_live_ends_final_in_dwh(
    live_midnight_run: dict[str, Any],
) -> None:
    fact = live_midnight_run["fact"]

    assert live_midnight_run["code"] == 0
    assert fact["conversation_end"] == datetime(2026, 12, 2, 0, 3, 2, 1000, tzinfo=UTC)
    assert (fact["is_final"], fact["state"]) == (True, "final")


def test_call_across_midnight_live_version_landed_before_midnight(
    live_midnight_run: dict[str, Any],
) -> None:
    live = [
        doc
        for doc in live_midnight_run["versions"]
        if "conversationEnd" not in doc["payload"] and doc["first_seen_at"] < MIDNIGHT
    ]

    assert live, "the call must have been captured live before midnight"
    assert live_midnight_run["watchlist"] == []
