"""The first capture batch of a run respects the batch cap, fresh or restarted.

Spark asks a Python source for `latestOffset` before it hands over the start offset, so the
`genesys` reader reads its own checkpoint. Against a frozen simulator whose clock stands hours
after the start, the first planned offset must be `start + max_batch` (fresh) or
`checkpointed + max_batch` (restarted), never the server's now.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.genesys.source import GenesysStreamReader
from simulator.server import RunningSimulator, SimulatorConfig, start_simulator

CLIENT_ID = "first-batch-client"
CLIENT_SECRET = secrets.token_urlsafe(16)  # made per run: no secret literal
SERVER_NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    config = SimulatorConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        seed=5,
        start=SERVER_NOW,
        speed=0.0,
        agents=5,
        conversations_per_hour=10,
        history_minutes=10,
        duration_minutes=1,
    )
    with start_simulator(config, center=None) as running:
        yield running


def reader(sim: RunningSimulator, checkpoint: Path, **extra: str) -> GenesysStreamReader:
    options = {
        "api_base_url": sim.base_url,
        "client_id": CLIENT_ID,
        "max_batch_seconds": "300",
        "checkpoint_location": str(checkpoint),
        **extra,
    }
    return GenesysStreamReader(options)


def test_fresh_start_first_offset_start_plus_max_batch(
    sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
    fresh = reader(sim, tmp_path / "capture", start="2026-12-04T08:00:00.000Z")

    assert fresh.latestOffset() == {"until": "2026-12-04T08:05:00.000Z"}
    assert fresh.initialOffset() == {"until": "2026-12-04T08:00:00.000Z"}


def test_restart_first_offset_checkpointed_plus_max_batch(
    sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
    offsets = tmp_path / "capture" / "offsets"
    offsets.mkdir(parents=True)
    (offsets / "7").write_text(
        'v1\n{"batchWatermarkMs":0}\n{"until": "2026-12-04T09:40:00.000Z"}', encoding="utf-8"
    )
    restarted = reader(sim, tmp_path / "capture", start="2026-12-04T08:00:00.000Z")

    assert restarted.latestOffset() == {"until": "2026-12-04T09:45:00.000Z"}


def test_unbounded_fresh_start_offset_is_server_now(
    sim: RunningSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", CLIENT_SECRET)
    live = reader(sim, tmp_path / "capture")

    assert live.latestOffset() == {"until": "2026-12-04T12:00:00.000Z"}
    assert live.initialOffset() == {"until": "2026-12-04T11:57:00.000Z"}
