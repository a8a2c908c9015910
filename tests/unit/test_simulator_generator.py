"""Unit tests for the seeded contact-centre generator."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator.generator import ContactCenter, build_contact_center

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def center() -> ContactCenter:
    return build_contact_center(11, agents=40, start=START, end=END, conversations_per_hour=600)


def _walk(value: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _sessions(record: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for participant in record["participants"]:
        for session in participant["sessions"]:
            yield participant, session


def _metrics(session: dict[str, Any]) -> dict[str, int]:
    return {m["name"]: m["value"] for m in session["metrics"]}


def test_build_contact_center_same_seed_gives_identical_data(center: ContactCenter) -> None:
    again = build_contact_center(11, agents=40, start=START, end=END, conversations_per_hour=600)

    assert again == center


def test_build_contact_center_other_seed_gives_different_records(center: ContactCenter) -> None:
    other = build_contact_center(12, agents=40, start=START, end=END, conversations_per_hour=600)

    assert other.conversations[0]["conversationId"] != center.conversations[0]["conversationId"]


def test_build_contact_center_rate_gives_plausible_count(center: ContactCenter) -> None:
    # 1200 expected over two hours; a Poisson count stays well within +-10%.
    assert 1080 <= len(center.conversations) <= 1320


def test_build_contact_center_starts_lie_in_window_sorted(center: ContactCenter) -> None:
    starts = [r["conversationStart"] for r in center.conversations]

    assert starts == sorted(starts)
    assert starts[0] >= "2024-05-01T09:00:00.000Z"
    assert starts[-1] < "2024-05-01T11:00:00.000Z"


def test_build_contact_center_records_have_required_fields(center: ContactCenter) -> None:
    for record in center.conversations:
        assert set(record) == {
            "conversationId",
            "conversationStart",
            "conversationEnd",
            "originatingDirection",
            "divisionIds",
            "participants",
        }
        assert 1 <= len(record["divisionIds"]) <= 3
        for participant, session in _sessions(record):
            assert {"participantId", "purpose", "sessions"} <= set(participant)
            assert {"sessionId", "mediaType", "direction", "segments", "metrics"} <= set(session)
            for segment in session["segments"]:
                assert {"segmentStart", "segmentEnd", "segmentType", "conference"} <= set(segment)


def test_build_contact_center_has_no_null_values_anywhere(center: ContactCenter) -> None:
    nulls = [
        path for record in center.conversations for path, value in _walk(record) if value is None
    ]

    assert nulls == []


def test_build_contact_center_ids_and_timestamps_are_well_formed(center: ContactCenter) -> None:
    for record in center.conversations:
        assert UUID.match(record["conversationId"])
        for path, value in _walk(record):
            key = path.rsplit(".", 1)[-1]
            if key in {"conversationStart", "conversationEnd", "segmentStart", "segmentEnd"}:
                assert TIMESTAMP.match(value), path
            if key in {"emitDate"}:
                assert TIMESTAMP.match(value), path


def test_build_contact_center_handle_time_is_talk_plus_hold_plus_acw(
    center: ContactCenter,
) -> None:
    checked = 0
    for record in center.conversations:
        for _participant, session in _sessions(record):
            metrics = _metrics(session)
            if "tHandle" in metrics:
                expected = (
                    metrics["tTalkComplete"] + metrics.get("tHeldComplete", 0) + metrics["tAcw"]
                )
                assert metrics["tHandle"] == expected
                checked += 1
    assert checked > 500


def test_build_contact_center_covers_media_mix(center: ContactCenter) -> None:
    media = Counter(
        (r["originatingDirection"], r["participants"][0]["sessions"][0]["mediaType"])
        for r in center.conversations
    )

    assert set(media) == {
        ("inbound", "voice"),
        ("outbound", "voice"),
        ("inbound", "chat"),
        ("inbound", "email"),
        ("inbound", "callback"),
    }
    assert media[("inbound", "voice")] == max(media.values())


def test_build_contact_center_covers_routing_outcomes(center: ContactCenter) -> None:
    names: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    for record in center.conversations:
        for _participant, session in _sessions(record):
            names.update(_metrics(session))
            codes.update(s["wrapUpCode"] for s in session["segments"] if "wrapUpCode" in s)

    for name in ("tAbandon", "tNotResponding", "nTransferred", "tIvr", "tHeldComplete"):
        assert names[name] > 0, name
    assert codes["ININ-WRAP-UP-TIMEOUT"] > 0


def test_build_contact_center_customers_have_fake_contact_data(center: ContactCenter) -> None:
    for record in center.conversations:
        first = record["participants"][0]
        session = first["sessions"][0]
        if record["originatingDirection"] == "inbound":
            assert first["purpose"] == "customer"
        else:
            assert first["purpose"] == "agent"
        if session["mediaType"] == "voice":
            number = session["ani"] if first["purpose"] == "customer" else session["dnis"]
            assert number.startswith("tel:+1555")


def test_build_contact_center_org_shapes_match_listings(center: ContactCenter) -> None:
    states = Counter(user["state"] for user in center.users)

    assert len(center.divisions) == 3
    assert [d["homeDivision"] for d in center.divisions].count(True) == 1
    assert len(center.queues) == 6
    assert len(center.skills) == 8
    assert len(center.wrapup_codes) == 8
    assert len(center.users) == 40
    assert states["deleted"] >= 1 and states["inactive"] >= 1 and states["active"] >= 20
    assert {"id": "*"} in [code["division"] for code in center.wrapup_codes]
    assert all(isinstance(skill["version"], str) for skill in center.skills)
    assert all(re.match(r"^.{19}Z$", skill["dateModified"]) for skill in center.skills)


def test_build_contact_center_empty_window_raises_value_error() -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        build_contact_center(1, agents=5, start=START, end=START, conversations_per_hour=10)
