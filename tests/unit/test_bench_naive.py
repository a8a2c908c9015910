"""Unit tests for bench.naive: the per-document baseline picks versions like curate does."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.naive import clean, fact_documents, rank

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KNOWN = {
    "dim_user": {"u-1"}, "dim_queue": {"q-1"}, "dim_skill": {"s-1"},
    "dim_wrapup_code": set(), "dim_division": {"d-1"},
}  # fmt: skip


def _version(raw_id: str, end: str | None, segment_end: str | None) -> dict:
    segment = {
        "segmentStart": "2026-12-01T10:00:00Z",
        "segmentType": "interact",
        "queueId": " Q-1 ",
        "requestedRoutingSkillIds": ["S-1", "s-2"],
    }
    if segment_end:
        segment["segmentEnd"] = segment_end
    payload = {
        "conversationId": "C-1",
        "conversationStart": "2026-12-01T10:00:00Z",
        "divisionIds": ["D-1"],
        "participants": [
            {"purpose": "agent", "userId": "U-1",
             "sessions": [{"mediaType": "voice", "segments": [segment],
                           "metrics": [{"name": "tTalkComplete", "value": 300}]}]},
        ],
    }  # fmt: skip
    if end:
        payload["conversationEnd"] = end
    return {"_id": raw_id, "payload": payload, "first_seen_at": NOW, "last_seen_at": NOW}


def test_clean_trims_lowercases_and_blanks_to_none() -> None:
    assert [clean(" Q-1 "), clean("NULL"), clean("  "), clean(7)] == ["q-1", None, None, None]


def test_rank_ended_version_beats_live_view_seen_later() -> None:
    live = _version("c-1:a", None, None)
    ended = _version("c-1:b", "2026-12-01T10:05:00Z", "2026-12-01T10:05:00Z")

    assert max([ended, live], key=rank)["_id"] == "c-1:b"


def test_fact_documents_resolve_known_keys_and_one_row_per_skill() -> None:
    versions = [
        _version("c-1:a", None, None),
        _version("c-1:b", "2026-12-01T10:05:00Z", "2026-12-01T10:05:00Z"),
    ]

    fact, skills = fact_documents(versions, KNOWN, "batch", NOW)

    assert (fact["_id"], fact["state"], fact["duration_ms"], fact["talk_ms"]) == (
        "c-1", "final", 300_000, 300,
    )  # fmt: skip
    assert (fact["agent_key"], fact["first_queue_key"], fact["division_key"]) == (
        "u-1", "q-1", "d-1",
    )  # fmt: skip
    assert fact["wrapup_key"] == "unknown"
    assert {(s["skill_id"], s["skill_key"]) for s in skills} == {
        ("s-1", "s-1"), ("s-2", "unknown"),
    }  # fmt: skip
