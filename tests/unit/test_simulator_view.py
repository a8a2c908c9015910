"""Unit tests for view_at (a record as seen at an instant) and the details-query interval rule."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from simulator.timefmt import parse_interval
from simulator.view import matches_interval, view_at

Record = dict[str, Any]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _record() -> Record:
    return {
        "conversationId": "c1",
        "conversationStart": "2024-05-01T10:00:00.000Z",
        "conversationEnd": "2024-05-01T10:10:00.000Z",
        "originatingDirection": "inbound",
        "divisionIds": ["d1"],
        "participants": [
            {
                "participantId": "p-cust",
                "participantName": "Test Customer",
                "purpose": "customer",
                "sessions": [
                    {
                        "mediaType": "voice",
                        "sessionId": "s-cust",
                        "segments": [
                            {
                                "segmentStart": "2024-05-01T10:00:00.000Z",
                                "segmentEnd": "2024-05-01T10:01:00.000Z",
                                "queueId": "q1",
                                "segmentType": "interact",
                                "conference": False,
                            },
                            {
                                "segmentStart": "2024-05-01T10:01:00.000Z",
                                "segmentEnd": "2024-05-01T10:10:00.000Z",
                                "disconnectType": "endpoint",
                                "segmentType": "interact",
                                "conference": False,
                            },
                        ],
                        "metrics": [
                            {
                                "name": "nConnected",
                                "value": 1,
                                "emitDate": "2024-05-01T10:00:00.000Z",
                            }
                        ],
                    }
                ],
            },
            {
                "participantId": "p-agent",
                "userId": "u1",
                "purpose": "agent",
                "sessions": [
                    {
                        "mediaType": "voice",
                        "sessionId": "s-agent",
                        "segments": [
                            {
                                "segmentStart": "2024-05-01T10:00:50.000Z",
                                "segmentEnd": "2024-05-01T10:01:00.000Z",
                                "segmentType": "alert",
                                "conference": False,
                            },
                            {
                                "segmentStart": "2024-05-01T10:01:00.000Z",
                                "segmentEnd": "2024-05-01T10:10:00.000Z",
                                "segmentType": "interact",
                                "conference": False,
                            },
                            {
                                "segmentStart": "2024-05-01T10:10:00.000Z",
                                "segmentEnd": "2024-05-01T10:10:30.000Z",
                                "segmentType": "wrapup",
                                "wrapUpCode": "w1",
                                "conference": False,
                            },
                        ],
                        "metrics": [
                            {
                                "name": "tAlert",
                                "value": 10000,
                                "emitDate": "2024-05-01T10:01:00.000Z",
                            },
                            {
                                "name": "tTalkComplete",
                                "value": 540000,
                                "emitDate": "2024-05-01T10:10:00.000Z",
                            },
                            {
                                "name": "tAcw",
                                "value": 30000,
                                "emitDate": "2024-05-01T10:10:30.000Z",
                            },
                        ],
                    }
                ],
            },
        ],
    }


def _segment_types(view: Record, participant: int) -> list[tuple[str, str | None]]:
    segments = view["participants"][participant]["sessions"][0]["segments"]
    return [(s["segmentType"], s.get("segmentEnd")) for s in segments]


def _metric_names(view: Record, participant: int) -> list[str]:
    return [m["name"] for m in view["participants"][participant]["sessions"][0]["metrics"]]


def test_view_at_before_start_returns_none() -> None:
    assert view_at(_record(), _at("2024-05-01T09:59:59.999Z")) is None


def test_view_at_during_queue_drops_agent_and_open_end() -> None:
    view = view_at(_record(), _at("2024-05-01T10:00:30Z"))

    expected = copy.deepcopy(_record())
    del expected["conversationEnd"]
    customer_session = expected["participants"][0]["sessions"][0]
    customer_session["segments"] = [dict(customer_session["segments"][0])]
    del customer_session["segments"][0]["segmentEnd"]
    expected["participants"] = expected["participants"][:1]
    assert view == expected


def test_view_at_between_segments_keeps_closed_and_opens_current() -> None:
    view = view_at(_record(), _at("2024-05-01T10:05:00Z"))

    assert view is not None
    assert "conversationEnd" not in view
    assert _segment_types(view, 0) == [
        ("interact", "2024-05-01T10:01:00.000Z"),
        ("interact", None),
    ]
    assert _segment_types(view, 1) == [("alert", "2024-05-01T10:01:00.000Z"), ("interact", None)]
    assert _metric_names(view, 1) == ["tAlert"]


def test_view_at_during_wrapup_has_conversation_end_but_open_wrapup() -> None:
    view = view_at(_record(), _at("2024-05-01T10:10:15Z"))

    assert view is not None
    assert view["conversationEnd"] == "2024-05-01T10:10:00.000Z"
    assert _segment_types(view, 1)[-1] == ("wrapup", None)
    assert _metric_names(view, 1) == ["tAlert", "tTalkComplete"]


def test_view_at_after_everything_equals_final_record() -> None:
    assert view_at(_record(), _at("2024-05-01T11:00:00Z")) == _record()


def test_view_at_never_mutates_stored_record() -> None:
    record = _record()

    view = view_at(record, _at("2024-05-01T10:05:00Z"))
    assert view is not None
    view["participants"][0]["sessions"][0]["segments"][0]["queueId"] = "changed"
    view["divisionIds"].append("d2")

    assert record == _record()


def _bounds(interval: str) -> tuple[datetime, datetime]:
    return parse_interval(interval)


def _conversation(start: str, end: str | None) -> Record:
    record: Record = {"conversationId": "x", "conversationStart": start, "participants": []}
    if end is not None:
        record["conversationEnd"] = end
    return record


def test_matches_interval_previous_day_start_not_found_by_new_day_window() -> None:
    ongoing = _conversation("2024-05-01T23:58:00.000Z", None)

    assert not matches_interval(ongoing, *_bounds("2024-05-02T00:00:00Z/2024-05-02T00:05:00Z"))


def test_matches_interval_previous_day_start_found_by_window_touching_that_day() -> None:
    ongoing = _conversation("2024-05-01T23:58:00.000Z", None)

    assert matches_interval(ongoing, *_bounds("2024-05-01T23:59:00Z/2024-05-02T00:05:00Z"))


def test_matches_interval_end_exactly_at_interval_start_is_included() -> None:
    ended = _conversation("2024-05-01T10:00:00.000Z", "2024-05-01T10:05:00.000Z")

    assert matches_interval(ended, *_bounds("2024-05-01T10:05:00Z/2024-05-01T10:10:00Z"))


def test_matches_interval_end_just_before_interval_start_is_excluded() -> None:
    ended = _conversation("2024-05-01T10:00:00.000Z", "2024-05-01T10:04:59.999Z")

    assert not matches_interval(ended, *_bounds("2024-05-01T10:05:00Z/2024-05-01T10:10:00Z"))


def test_matches_interval_start_at_interval_end_is_excluded() -> None:
    later = _conversation("2024-05-01T10:10:00.000Z", None)

    assert not matches_interval(later, *_bounds("2024-05-01T10:05:00Z/2024-05-01T10:10:00Z"))


def test_matches_interval_same_day_earlier_start_still_running_is_included() -> None:
    long_call = _conversation("2024-05-01T01:00:00.000Z", None)

    assert matches_interval(long_call, *_bounds("2024-05-01T10:05:00Z/2024-05-01T10:10:00Z"))


def test_matches_interval_offset_interval_uses_utc_days() -> None:
    # 01:30+02:00 is 23:30Z on the previous day, so that day is touched.
    ongoing = _conversation("2024-05-01T23:00:00.000Z", None)

    assert matches_interval(
        ongoing, *_bounds("2024-05-02T01:30:00+02:00/2024-05-02T02:30:00+02:00")
    )


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ("2024-05-01T10:00:00Z/2024-05-01T11:00:00Z", "2024-05-01T10:00:00+00:00"),
        ("2024-05-01T10:00:00/2024-05-01T11:00:00", "2024-05-01T10:00:00+00:00"),
        ("2024-05-01T12:00:00.000+02:00/2024-05-01T13:00:00+02:00", "2024-05-01T10:00:00+00:00"),
    ],
)
def test_parse_interval_zone_forms_give_utc_start(interval: str, expected: str) -> None:
    assert parse_interval(interval)[0].isoformat() == expected


@pytest.mark.parametrize(
    "interval",
    ["2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z/2024-05-01T10:00:00Z", "yesterday/today"],
)
def test_parse_interval_bad_text_raises_value_error(interval: str) -> None:
    with pytest.raises(ValueError, match=r"interval|ISO-8601"):
        parse_interval(interval)
