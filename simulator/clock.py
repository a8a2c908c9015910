"""A virtual clock: simulated time that starts at a chosen instant and runs at a chosen speed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """Simulated UTC time: ``start + (real seconds elapsed since creation) * speed``.

    Args:
        start: The simulated instant at creation. A naive value is taken as UTC.
        speed: Simulated seconds per real second; 0 freezes the clock (handy in tests).
        timer: Source of real seconds; tests pass a fake one to run hours without sleeping.

    Raises:
        ValueError: If ``speed`` is negative.
    """

    def __init__(
        self, start: datetime, speed: float = 1.0, timer: Callable[[], float] = time.monotonic
    ) -> None:
        if speed < 0:
            raise ValueError(f"clock speed must be >= 0, got {speed!r}")
        self._start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
        self._speed = speed
        self._timer = timer
        self._origin = timer()
        self._lock = threading.Lock()

    @classmethod
    def fixed(cls, instant: datetime) -> VirtualClock:
        """Return a clock frozen at ``instant``."""
        return cls(instant, speed=0.0)

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    def now(self) -> datetime:
        """Return the current simulated instant as an aware UTC datetime."""
        with self._lock:
            elapsed = self._timer() - self._origin
            return self._start + timedelta(seconds=elapsed * self._speed)

    def set(self, instant: datetime) -> None:
        """Jump the clock to ``instant``; it keeps running at the same speed from there."""
        with self._lock:
            aware = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
            self._start = aware.astimezone(UTC)
            self._origin = self._timer()
