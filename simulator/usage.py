"""Request counts per OAuth client, with the busiest wall-clock and virtual minute of each."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any


class ClientUsage:
    """Counts API requests per client in fixed one-minute buckets of wall and virtual time.

    A verifier reads the peaks to check that a client stayed within its request budget; fixed
    minute buckets (12:00:00-12:00:59, ...) are what a per-minute budget counts, not a sliding
    window, so a burst across a minute boundary shows in two buckets.

    Args:
        wall_clock: Source of wall-clock epoch seconds (tests pass a fake one).
    """

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock
        self._totals: Counter[str] = Counter()
        self._statuses: dict[str, Counter[str]] = {}
        self._wall_minutes: dict[str, Counter[int]] = {}
        self._virtual_minutes: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()

    def record(self, client_id: str, status: int, virtual_now: datetime) -> None:
        """Count one request of ``client_id`` answered with ``status`` at ``virtual_now``."""
        wall_minute = int(self._wall_clock() // 60)
        virtual_minute = virtual_now.strftime("%Y-%m-%dT%H:%M")
        with self._lock:
            self._totals[client_id] += 1
            self._statuses.setdefault(client_id, Counter())[str(status)] += 1
            self._wall_minutes.setdefault(client_id, Counter())[wall_minute] += 1
            self._virtual_minutes.setdefault(client_id, Counter())[virtual_minute] += 1

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Return, per client id: requests, statuses and the peak per wall and virtual minute."""
        with self._lock:
            return {
                client: {
                    "requests": total,
                    "statuses": dict(self._statuses[client]),
                    "peakPerWallMinute": max(self._wall_minutes[client].values()),
                    "peakPerVirtualMinute": max(self._virtual_minutes[client].values()),
                    "busiestVirtualMinute": _busiest(self._virtual_minutes[client]),
                }
                for client, total in self._totals.items()
            }


def _busiest(minutes: Counter[str]) -> str:
    # The earliest of the busiest minutes, so the answer does not depend on arrival order.
    peak = max(minutes.values())
    return min(minute for minute, count in minutes.items() if count == peak)
