"""When a captured conversation is final, or why it must be fetched again (jobs/watchlist.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.watchlist import open_reason

NOW = datetime(2026, 12, 4, 10, 30, tzinfo=UTC)
SETTLE = timedelta(minutes=10)


def _call(end: str | None, *agent_segments: list[dict[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "conversationId": "c-1",
        "conversationStart": "2026-12-04T10:00:00.000Z",
        "participants": [
            {"purpose": "customer", "sessions": [{"segments": [{"segmentType": "interact"}]}]},
            *(
                {"purpose": "agent", "sessions": [{"segments": segments}]}
                for segments in agent_segments
            ),
        ],
    }
    if end is not None:
        record["conversationEnd"] = end
    return record


TALK = {"segmentType": "interact"}
WRAPUP = {"segmentType": "wrapup", "wrapUpCode": "w-1"}
ALERT = {"segmentType": "alert"}


def test_open_reason_no_end_not_ended() -> None:
    assert open_reason(_call(None, [TALK]), NOW, SETTLE) == "not ended"


def test_open_reason_agent_talked_without_wrapup_missing() -> None:
    record = _call("2026-12-04T10:05:00.000Z", [TALK, WRAPUP], [TALK])
    assert open_reason(record, NOW, SETTLE) == "agent wrap-up missing"


def test_open_reason_agent_only_alerted_needs_no_wrapup_final() -> None:
    record = _call("2026-12-04T10:05:00.000Z", [ALERT], [TALK, WRAPUP])
    assert open_reason(record, NOW, SETTLE) is None


def test_open_reason_ended_within_settle_settling() -> None:
    record = _call("2026-12-04T10:20:00.001Z", [TALK, WRAPUP])
    assert open_reason(record, NOW, SETTLE) == "settling"


def test_open_reason_ended_exactly_settle_ago_final() -> None:
    record = _call("2026-12-04T10:20:00.000Z", [TALK, WRAPUP])
    assert open_reason(record, NOW, SETTLE) is None


def test_open_reason_unreadable_end_final_left_to_quarantine() -> None:
    assert open_reason(_call("yesterday", [TALK]), NOW, SETTLE) is None
