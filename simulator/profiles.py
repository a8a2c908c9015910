"""Named settings profiles; ``realistic`` turns on every behaviour that imitates production."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from simulator.timefmt import format_ts

_QUERY = "/api/v2/analytics/conversations/details/query"

# Arrival-rate multipliers by UTC hour: quiet nights, a busy hour at 10:00, a post-lunch bump.
DAILY_CURVE = (
    0.15, 0.15, 0.15, 0.15, 0.15, 0.2, 0.3, 0.6, 1.0, 1.4, 1.6, 1.5,
    1.1, 1.3, 1.4, 1.3, 1.1, 0.8, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15,
)  # fmt: skip


def realistic_settings(start: datetime) -> dict[str, Any]:
    """Return the `SimulatorConfig` fields of the realistic profile for a clock starting at
    ``start``; the scheduled faults fall 5 to 32 virtual minutes after it."""
    return {
        "profile": "realistic",
        "latency_seconds": 30.0,
        "latency_jitter_seconds": 60.0,
        "late_wrapup_share": 0.3,
        "late_wrapup_max_seconds": 600.0,
        "late_wrapup_hours_share": 0.05,
        "email_reopen_share": 0.2,
        "total_hits_jitter": 0.1,
        "query_max_results": 10_000,
        "org_changes": 8,
        "client_divisions": ("Home", "Sales"),
        "hourly_profile": DAILY_CURVE,
        "faults": realistic_faults(start),
    }


def realistic_faults(start: datetime) -> tuple[dict[str, Any], ...]:
    """A 401 on page 2 of a paged query, a burst of 503s, slow answers and one timeout."""

    def at(minutes: int) -> str:
        return format_ts(start + timedelta(minutes=minutes))

    analytics = "/api/v2/analytics"
    return (
        {"path_prefix": _QUERY, "status": 401, "page": 2, "from": at(5)},
        {"path_prefix": analytics, "status": 503, "times": 3, "from": at(10), "until": at(12)},
        {"path_prefix": analytics, "delay_seconds": 2, "times": 2, "from": at(20), "until": at(22)},
        {
            "path_prefix": analytics,
            "status": 504,
            "delay_seconds": 3,
            "from": at(30),
            "until": at(32),
        },
    )
