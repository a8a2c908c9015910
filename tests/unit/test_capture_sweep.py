"""The trailing sweep's planning, the budget shares and the capture control summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.genesys.budget import share_cap
from connectors.genesys.source import GenesysStreamReader
from connectors.genesys.windows import (
    CaptureWindow,
    day_end_intervals,
    format_instant,
    sweep_interval,
)
from jobs.capture import capture_summary

T = datetime(2026, 12, 2, 0, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
EVERY = timedelta(minutes=30)
HORIZON = timedelta(hours=6)


def test_sweep_interval_window_not_crossing_cadence_none() -> None:
    window = CaptureWindow(T + 2 * MINUTE, T + 4 * MINUTE, MINUTE)

    assert sweep_interval(window, EVERY, HORIZON, None) is None


def test_sweep_interval_window_crossing_cadence_reaches_horizon_back_to_window_start() -> None:
    window = CaptureWindow(T - 2 * MINUTE, T, MINUTE)

    assert sweep_interval(window, EVERY, HORIZON, None) == (
        datetime(2026, 12, 1, 18, 30, tzinfo=UTC),
        datetime(2026, 12, 2, 0, 27, tzinfo=UTC),
    )


def test_sweep_interval_capture_start_floor_clamps_interval_start() -> None:
    window = CaptureWindow(T - 2 * MINUTE, T, MINUTE)
    floor = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)

    assert sweep_interval(window, EVERY, HORIZON, floor) == (floor, T - 3 * MINUTE)


def test_sweep_interval_floor_after_window_query_start_none() -> None:
    window = CaptureWindow(T - 2 * MINUTE, T, MINUTE)

    assert sweep_interval(window, EVERY, HORIZON, T - 2 * MINUTE) is None


def test_sweep_interval_cadence_zero_never_sweeps() -> None:
    window = CaptureWindow(T - 2 * MINUTE, T, MINUTE)

    assert sweep_interval(window, timedelta(0), HORIZON, None) is None


def test_day_end_intervals_skip_days_the_sweep_touches_and_query_last_second_of_older_ones() -> (
    None
):
    # 07:00 on Dec 2: the 6-hour sweep reaches back to 01:00, so no query of it touches Dec 1.
    window = CaptureWindow(datetime(2026, 12, 2, 6, 58, tzinfo=UTC), T + 6.5 * 60 * MINUTE, MINUTE)

    assert day_end_intervals(window, datetime(2026, 12, 2, 1, 0, tzinfo=UTC), 3, None) == [
        (datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)),
        (datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        (datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)),
    ]


def test_day_end_intervals_day_the_sweep_reaches_into_is_left_to_the_sweep() -> None:
    window = CaptureWindow(T - 2 * MINUTE, T, MINUTE)  # 00:30 on Dec 2; the sweep from 18:30

    assert day_end_intervals(window, datetime(2026, 12, 1, 18, 30, tzinfo=UTC), 2, None) == [
        (datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ]


def test_day_end_intervals_sweep_starting_at_midnight_leaves_the_day_before_untouched() -> None:
    window = CaptureWindow(T - 2 * MINUTE, T, MINUTE)

    assert day_end_intervals(window, datetime(2026, 12, 2, tzinfo=UTC), 1, None) == [
        (datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)),
    ]


def test_day_end_intervals_no_day_ending_at_or_before_the_capture_floor() -> None:
    window = CaptureWindow(datetime(2026, 12, 3, 9, 0, tzinfo=UTC), datetime(2026, 12, 3, 9, 2,
                           tzinfo=UTC), MINUTE)  # fmt: skip
    floor = datetime(2026, 12, 2, tzinfo=UTC)

    assert day_end_intervals(window, datetime(2026, 12, 3, 3, 0, tzinfo=UTC), 7, floor) == [
        (datetime(2026, 12, 2, 23, 59, 59, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)),
    ]


def test_day_end_intervals_zero_days_none() -> None:
    window = CaptureWindow(T - 2 * MINUTE, T, MINUTE)

    assert day_end_intervals(window, T, 0, None) == []


def test_partitions_sweep_after_the_horizon_left_yesterday_asks_for_its_open_conversations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "not-used")
    reader = _reader(sweep_seconds="1800", sweep_horizon_seconds="3600", sweep_days="2")
    at = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)

    parts = reader.partitions(
        {"until": format_instant(at - 2 * MINUTE)}, {"until": format_instant(at)}
    )

    assert [(p.capture_pass, p.interval_start, p.interval_end) for p in parts] == [
        ("window", "2026-12-02T02:57:00.000Z", "2026-12-02T03:00:00.000Z"),
        ("sweep", "2026-11-30T23:59:59.000Z", "2026-12-01T00:00:00.000Z"),
        ("sweep", "2026-12-01T23:59:59.000Z", "2026-12-02T00:00:00.000Z"),
        ("sweep", "2026-12-02T02:00:00.000Z", "2026-12-02T02:57:00.000Z"),
    ]


def _reader(**extra: str) -> GenesysStreamReader:
    options = {
        "api_base_url": "http://127.0.0.1:1",
        "client_id": "sweep-test",
        "trigger_seconds": "120",
        "lookback_seconds": "180",
        # Far apart, so that listings never join these batches.
        "dimension_refresh_seconds": str(7 * 86_400),
        **extra,
    }
    return GenesysStreamReader(options)


def test_partitions_batch_crossing_sweep_cadence_adds_two_hour_sweep_partitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "not-used")
    reader = _reader(sweep_seconds="1800", sweep_horizon_seconds="21600")
    start = {"until": format_instant(T - 2 * MINUTE)}
    end = {"until": format_instant(T)}

    parts = reader.partitions(start, end)

    assert [(p.capture_pass, p.interval_start, p.interval_end) for p in parts] == [
        ("window", "2026-12-02T00:27:00.000Z", "2026-12-02T00:30:00.000Z"),
        ("sweep", "2026-12-01T18:30:00.000Z", "2026-12-01T20:30:00.000Z"),
        ("sweep", "2026-12-01T20:30:00.000Z", "2026-12-01T22:30:00.000Z"),
        ("sweep", "2026-12-01T22:30:00.000Z", "2026-12-02T00:27:00.000Z"),
    ]
    assert {p.endpoint for p in parts} == {"conversations"}


def test_partitions_sweep_off_by_default_window_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "not-used")
    reader = _reader()

    parts = reader.partitions(
        {"until": format_instant(T - 2 * MINUTE)}, {"until": format_instant(T)}
    )

    assert [p.capture_pass for p in parts] == ["window"]


def test_share_cap_240_per_minute_leaves_headroom_by_priority() -> None:
    assert [
        share_cap(240, priority)
        for priority in ("open_conversations", "window", "sweep", "dimensions")
    ] == [240, 204, 144, 96]


def test_share_cap_unknown_priority_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown request priority .urgent.*window"):
        share_cap(240, "urgent")


def test_capture_summary_sums_counters_per_pass_and_measures_lag_behind_server() -> None:
    window = {
        "endpoint": "conversations",
        "capture_pass": "window",
        "interval_start": "2026-12-02T00:27:00.000Z",
        "interval_end": "2026-12-02T00:30:00.000Z",
        "records": 40,
        "requests": 2,
        "pages": 2,
        "throttled": 1,
        "retries": 1,
    }
    sweep_a = {
        "endpoint": "conversations",
        "capture_pass": "sweep",
        "interval_start": "2026-12-01T18:30:00.000Z",
        "interval_end": "2026-12-01T20:30:00.000Z",
        "records": 300,
        "requests": 4,
        "pages": 4,
    }
    sweep_b = {**sweep_a, "interval_start": "2026-12-01T20:30:00.000Z",
               "interval_end": "2026-12-02T00:27:00.000Z", "records": 500, "requests": 6,
               "pages": 6, "budget_waits": 2}  # fmt: skip
    # A control row written before passes existed: a listing by its endpoint.
    listing = {"endpoint": "users", "records": 50, "requests": 1, "pages": 1}
    controls = [
        (window, "2026-12-02T00:30:04.000Z"),
        (sweep_a, "2026-12-02T00:30:09.000Z"),
        (sweep_b, "2026-12-02T00:30:12.500Z"),
        (listing, "2026-12-02T00:30:02.000Z"),
    ]

    summary = capture_summary(
        "2026-12-02T00:30:00.000Z", "2026-12-02T00:27:00.000Z", "2026-12-02T00:30:00.000Z",
        controls,
    )  # fmt: skip

    assert summary["watermark"] == T
    assert summary["server_time"] == datetime(2026, 12, 2, 0, 30, 12, 500_000, tzinfo=UTC)
    assert summary["lag_seconds"] == 12.5
    assert (summary["records"], summary["requests"], summary["pages"]) == (890, 13, 13)
    assert (summary["throttled"], summary["retries"], summary["budget_waits"]) == (1, 1, 2)
    assert summary["passes"]["sweep"] == {
        "partitions": 2,
        "records": 800,
        "requests": 10,
        "pages": 10,
        "retries": 0,
        "throttled": 0,
        "server_errors": 0,
        "token_refreshes": 0,
        "splits": 0,
        "budget_waits": 2,
        "interval_start": "2026-12-01T18:30:00.000Z",
        "interval_end": "2026-12-02T00:27:00.000Z",
    }
    assert sorted(summary["passes"]) == ["listing", "sweep", "window"]
    assert summary["passes"]["listing"]["records"] == 50
