"""When a captured conversation is final, or why it must be fetched again (jobs/watchlist.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobs.watchlist import finality_view, open_reason

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


def test_finality_view_keeps_end_and_agent_segment_kinds_only() -> None:
    record = _call("2026-12-04T10:05:00.000Z", [{**TALK, "segmentStart": "x"}, WRAPUP])
    record["participants"][1]["name"] = "Ana Silva"  # customer data stays on the executor

    assert finality_view(record) == {
        "conversationEnd": "2026-12-04T10:05:00.000Z",
        "participants": [
            {
                "purpose": "agent",
                "sessions": [
                    {
                        "segments": [
                            {"segmentType": "interact", "wrapUpCode": None},
                            {"segmentType": "wrapup", "wrapUpCode": "w-1"},
                        ]
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        pytest.param(_call(None, [TALK]), "not ended", id="not-ended"),
        pytest.param(
            _call("2026-12-04T10:05:00.000Z", [TALK, WRAPUP], [TALK]),
            "agent wrap-up missing",
            id="wrapup-missing",
        ),
        pytest.param(_call("2026-12-04T10:25:00.000Z", [TALK, WRAPUP]), "settling", id="settling"),
        pytest.param(_call("2026-12-04T10:05:00.000Z", [ALERT], [TALK, WRAPUP]), None, id="final"),
    ],
)
def test_open_reason_of_finality_view_same_as_of_record(
    record: dict[str, Any], reason: str | None
) -> None:
    assert open_reason(record, NOW, SETTLE) == reason
    assert open_reason(finality_view(record), NOW, SETTLE) == reason
