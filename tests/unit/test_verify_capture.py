"""The comparison of `make verify-capture`: final records against `fact_call` rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scripts.verify_capture import compare, duplicated, final_wrapup_code, stale_reason

START = "2026-12-03T23:58:00.000Z"
END = "2026-12-04T00:03:00.000Z"


def _record(conversation_id: str, end: str = END, code: str = "Sale") -> dict[str, Any]:
    """A final record: an agent who talked, then wrapped up with `code`."""
    agent_segments = [
        {
            "segmentStart": START,
            "segmentEnd": "2026-12-04T00:02:00.000Z",
            "segmentType": "interact",
        },
        {
            "segmentStart": "2026-12-04T00:02:00.000Z",
            "segmentEnd": end,
            "segmentType": "wrapup",
            "wrapUpCode": code,
        },
    ]
    return {
        "conversationId": conversation_id,
        "conversationStart": START,
        "conversationEnd": end,
        "participants": [
            {"purpose": "agent", "sessions": [{"mediaType": "voice", "segments": agent_segments}]}
        ],
    }


def _fact(conversation_id: str, end: datetime, code: str | None = "sale") -> dict[str, Any]:
    """A `fact_call` row as MongoDB returns it (tz-aware dates)."""
    return {
        "conversation_id": conversation_id,
        "conversation_start": datetime(2026, 12, 3, 23, 58, tzinfo=UTC),
        "conversation_end": end,
        "is_final": True,
        "wrapup_code": code,
        "etl_raw_version": f"{conversation_id}:hash",
    }


RIGHT_END = datetime(2026, 12, 4, 0, 3, tzinfo=UTC)


def test_compare_matching_fact_is_neither_missing_nor_stale() -> None:
    result = compare([_record("c1")], {"c1": _fact("c1", RIGHT_END)}, {"c1": ["c1:hash"]})

    assert (result.truth, result.landed, result.missing, result.stale) == (1, 1, (), {})


def test_compare_conversation_without_fact_is_missing() -> None:
    result = compare(
        [_record("c1"), _record("c2")], {"c1": _fact("c1", RIGHT_END)}, {"c1": ["c1:hash"]}
    )

    assert (result.truth, result.landed, result.missing, result.stale) == (2, 1, ("c2",), {})


def test_compare_fact_with_earlier_end_is_stale() -> None:
    # A re-opened e-mail curated at its first end: the final record ends later.
    truth = [_record("c1", end="2026-12-04T06:30:00.000Z")]

    result = compare(truth, {"c1": _fact("c1", RIGHT_END)}, {"c1": ["c1:hash"]})

    assert result.stale == {"c1": "conversation_end differs"}
    assert (result.landed, result.missing) == (1, ())


def test_stale_reason_fact_without_late_wrapup_code_is_stale() -> None:
    reason = stale_reason(_fact("c1", RIGHT_END, code=None), _record("c1"), ["c1:hash"])

    assert reason == "wrapup_code differs"


def test_final_wrapup_code_latest_segment_wins_lower_case() -> None:
    record = _record("c1", code=" Callback ")
    session = record["participants"][0]["sessions"][0]
    session["segments"].insert(
        0, {"segmentStart": START, "segmentType": "wrapup", "wrapUpCode": "Early"}
    )

    assert final_wrapup_code(record) == "callback"


def test_duplicated_business_key_counts_copies_beyond_first() -> None:
    keys = [("c1",), ("c2",), ("c1",), ("c1",)]

    assert duplicated(keys) == {("c1",): 2}
