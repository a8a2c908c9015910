"""Unit tests for the details query: validation, filters, ordering and paging."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.errors import ApiError
from simulator.query import QueryLimits, run_details_query
from simulator.store import ConversationStore

NOW = "2024-05-01T12:00:00.000Z"
DAY = "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z"


def _record(cid: str, start: str, end: str | None, media: str, queue: str, division: str) -> dict:
    record: dict[str, Any] = {"conversationId": cid, "conversationStart": start}
    if end is not None:
        record["conversationEnd"] = end
    record["originatingDirection"] = "outbound" if media == "voice-out" else "inbound"
    record["divisionIds"] = [division]
    segment = {"segmentStart": start, "segmentType": "interact", "queueId": queue}
    session = {"mediaType": media.removesuffix("-out"), "sessionId": f"s-{cid}"}
    session["segments"] = [segment]
    record["participants"] = [
        {"participantId": f"p-{cid}", "purpose": "customer", "sessions": [session]}
    ]
    return record


STORE = ConversationStore(
    [
        _record("b", "2024-05-01T10:00:00.000Z", "2024-05-01T10:30:00.000Z", "voice", "q1", "d1"),
        _record("a", "2024-05-01T10:00:00.000Z", None, "chat", "q2", "d2"),
        _record(
            "c", "2024-05-01T09:00:00.000Z", "2024-05-01T11:00:00.000Z", "voice-out", "q1", "d1"
        ),
    ]
)


def _ids(body: dict[str, Any]) -> list[str]:
    result = run_details_query(body, STORE, NOW, QueryLimits())
    return [c["conversationId"] for c in result.get("conversations", [])]


def test_run_details_query_default_order_is_start_then_id() -> None:
    assert _ids({"interval": DAY}) == ["c", "a", "b"]


def test_run_details_query_desc_conversation_end_puts_open_first() -> None:
    assert _ids({"interval": DAY, "order": "desc", "orderBy": "conversationEnd"}) == ["a", "c", "b"]


def test_run_details_query_conversation_end_not_exists_keeps_live_only() -> None:
    body = {
        "interval": DAY,
        "conversationFilters": [
            {
                "type": "and",
                "predicates": [{"dimension": "conversationEnd", "operator": "notExists"}],
            }
        ],
    }

    assert _ids(body) == ["a"]


def test_run_details_query_or_segment_filter_matches_either_value() -> None:
    body = {
        "interval": DAY,
        "segmentFilters": [
            {
                "type": "or",
                "predicates": [
                    {"type": "dimension", "dimension": "mediaType", "value": "chat"},
                    {"dimension": "queueId", "operator": "matches", "value": "q9"},
                ],
            }
        ],
    }

    assert _ids(body) == ["a"]


def test_run_details_query_filters_are_anded_across_list() -> None:
    body = {
        "interval": DAY,
        "conversationFilters": [
            {"type": "and", "predicates": [{"dimension": "divisionId", "value": "d1"}]},
            {
                "type": "and",
                "predicates": [{"dimension": "originatingDirection", "value": "inbound"}],
            },
        ],
    }

    assert _ids(body) == ["b"]


def test_run_details_query_page_past_end_has_no_conversations_key() -> None:
    body = {"interval": DAY, "paging": {"pageSize": 2, "pageNumber": 3}}

    assert run_details_query(body, STORE, NOW, QueryLimits()) == {"totalHits": 3}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {
                "interval": DAY,
                "segmentFilters": [
                    {"type": "and", "predicates": [{"dimension": "ani", "value": "x"}]}
                ],
            },
            "does not support",
        ),
        (
            {
                "interval": DAY,
                "conversationFilters": [
                    {"type": "and", "predicates": [{"type": "metric", "metric": "tHandle"}]}
                ],
            },
            "does not support",
        ),
        (
            {
                "interval": DAY,
                "aggregations": [{"type": "termFrequency", "dimension": "wrapUpCode"}],
            },
            "aggregations",
        ),
        ({"interval": "2024-05-01T00:00:00Z/2024-05-09T00:00:00Z"}, "maximum is 7 days"),
        ({"interval": "2024-05-02T00:00:00Z/2024-05-01T00:00:00Z"}, "after its start"),
        ({}, "interval must be"),
        ({"interval": DAY, "paging": {"pageSize": 101}}, "maximum is 100"),
        ({"interval": DAY, "orderBy": "wrapUpCode"}, "orderBy must be"),
    ],
)
def test_run_details_query_invalid_body_raises_400(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        run_details_query(body, STORE, NOW, QueryLimits())

    assert caught.value.status == 400
    assert fragment in caught.value.message
