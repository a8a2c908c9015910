"""Unit tests for the virtual clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from simulator.clock import VirtualClock

START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_virtual_clock_fixed_never_moves() -> None:
    clock = VirtualClock.fixed(START)
    time.sleep(0.01)

    assert clock.now() == START


def test_virtual_clock_speed_scales_real_elapsed_time() -> None:
    clock = VirtualClock(START, speed=1000.0)
    time.sleep(0.05)

    elapsed = clock.now() - START
    assert timedelta(seconds=40) <= elapsed <= timedelta(seconds=5000)


def test_virtual_clock_naive_start_is_taken_as_utc() -> None:
    clock = VirtualClock.fixed(datetime(2024, 5, 1, 10, 0))

    assert clock.now() == START


def test_virtual_clock_offset_start_is_converted_to_utc() -> None:
    clock = VirtualClock.fixed(datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))))

    assert clock.now().isoformat() == "2024-05-01T10:00:00+00:00"


def test_virtual_clock_set_jumps_to_instant() -> None:
    clock = VirtualClock.fixed(START)
    clock.set(START + timedelta(hours=3))

    assert clock.now() == START + timedelta(hours=3)


def test_virtual_clock_negative_speed_raises_value_error() -> None:
    with pytest.raises(ValueError, match="speed must be >= 0, got -1"):
        VirtualClock(START, speed=-1)
