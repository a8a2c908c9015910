"""The conversation builder: best version per conversation, fact_call and fact_call_skill."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from connectors.mongo.raw_source import RAW_VERSION_SCHEMA
from jobs.star.conversations import build_conversation_facts
from jobs.transforms.timestamps import parse_utc_instant

CONVERSATION_ID = "c-1"


def _segment(start: str, end: str | None, kind: str, **extra: Any) -> dict[str, Any]:
    segment = {"segmentStart": start, "segmentType": kind, **extra}
    if end is not None:
        segment["segmentEnd"] = end
    return segment


def _record(ended: bool, *, wrapup: bool = False) -> dict[str, Any]:
    """A voice call: customer, queue, agent; live (no end) or ended."""
    agent_segments = [
        _segment("2024-03-05T10:00:20.000Z", "2024-03-05T10:00:25.000Z", "alert"),
        _segment(
            "2024-03-05T10:00:25.000Z",
            "2024-03-05T10:05:00.000Z" if ended else None,
            "interact",
            queueId="Q-1",
        ),
    ]
    metrics = [{"name": "tAlert", "value": 5000, "emitDate": "2024-03-05T10:00:25.000Z"}]
    if ended:
        metrics.append({"name": "tTalkComplete", "value": 275000, "emitDate": "x"})
    if wrapup:
        agent_segments.append(
            _segment(
                "2024-03-05T10:05:00.000Z",
                "2024-03-05T10:05:30.000Z",
                "wrapup",
                wrapUpCode="ININ-WRAP-UP-TIMEOUT",
            )
        )
        metrics.append({"name": "tAcw", "value": 30000, "emitDate": "x"})
    record: dict[str, Any] = {
        "conversationId": CONVERSATION_ID,
        "conversationStart": "2024-03-05T10:00:00.000Z",
        "originatingDirection": "inbound",
        "divisionIds": ["D-1", "d-2"],
        "participants": [
            {
                "purpose": "customer",
                "sessions": [
                    {
                        "mediaType": "voice",
                        "segments": [_segment("2024-03-05T10:00:00.000Z", None, "interact")],
                    }
                ],
            },
            {
                "purpose": "acd",
                "sessions": [
                    {
                        "mediaType": "voice",
                        "segments": [
                            _segment(
                                "2024-03-05T10:00:01.000Z",
                                "2024-03-05T10:00:20.000Z",
                                "interact",
                                queueId="Q-1",
                                disconnectType="transfer",
                                requestedRoutingSkillIds=["S-1", "s-2"],
                            )
                        ],
                        "metrics": [{"name": "tAcd", "value": 19000, "emitDate": "x"}],
                    }
                ],
            },
            {
                "purpose": "agent",
                "userId": "U-7",
                "sessions": [
                    {"mediaType": "voice", "segments": agent_segments, "metrics": metrics}
                ],
            },
        ],
    }
    if ended:
        record["conversationEnd"] = "2024-03-05T10:05:00.000Z"
    return record


def _versions(spark: Any, records: list[tuple[str, dict[str, Any] | str, str]]) -> DataFrame:
    rows = [
        (
            "conversations",
            raw_id,
            CONVERSATION_ID,
            "B1",
            seen,
            seen,
            record if isinstance(record, str) else json.dumps(record),
            "B9",
            9,
        )
        for raw_id, record, seen in records
    ]
    frame = spark.createDataFrame(rows, RAW_VERSION_SCHEMA)
    return frame.withColumn("first_seen_at", parse_utc_instant(F.col("first_seen_at"))).withColumn(
        "last_seen_at", parse_utc_instant(F.col("last_seen_at"))
    )


@pytest.mark.parametrize(
    "arrival",
    [
        pytest.param(["live", "ended"], id="ended-arrives-last"),
        pytest.param(["ended", "live"], id="ended-arrives-first"),
    ],
)
def test_build_facts_versions_in_any_order_keep_the_ended_one(
    spark: Any, arrival: list[str]
) -> None:
    seen = {"live": "2024-03-05T10:02:00.000Z", "ended": "2024-03-05T10:06:00.000Z"}
    records = {"live": _record(ended=False), "ended": _record(ended=True)}
    # The live version is seen LAST when the ended one "arrives first", so only the content,
    # not the arrival time, can pick the ended version.
    if arrival == ["ended", "live"]:
        seen = {"ended": "2024-03-05T10:02:00.000Z", "live": "2024-03-05T10:06:00.000Z"}
    frames = build_conversation_facts(
        _versions(spark, [(f"r-{name}", records[name], seen[name]) for name in arrival])
    )
    rows = frames.calls.collect()
    assert [(row["_id"], row["state"], row["raw_id"]) for row in rows] == [
        (CONVERSATION_ID, "final", "r-ended")
    ]


def test_build_facts_ended_call_has_expected_measures(spark: Any) -> None:
    frames = build_conversation_facts(
        _versions(spark, [("r-1", _record(ended=True, wrapup=True), "2024-03-05T10:06:00.000Z")])
    )
    row = frames.calls.collect()[0].asDict()
    expected = {
        "conversation_start": datetime(2024, 3, 5, 10, 0),
        "date_key": 20240305,
        "hour": 10,
        "duration_ms": 300000,
        "direction": "inbound",
        "media_type": "voice",
        "division_ids": ["d-1", "d-2"],
        "division_id": "d-1",
        "first_queue_id": "q-1",
        "last_queue_id": "q-1",
        "agent_id": "u-7",
        "wrapup_code": "inin-wrap-up-timeout",
        "answered": True,
        "abandoned": False,
        "transferred": False,
        "talk_ms": 275000,
        "acw_ms": 30000,
        "wait_ms": 19000,
        "alert_ms": 5000,
        "is_final": True,
    }
    # Spark hands timestamps back in the session zone (UTC here) without tzinfo.
    assert {key: row[key] for key in expected} == expected


def test_build_facts_live_call_is_open_without_duration(spark: Any) -> None:
    frames = build_conversation_facts(
        _versions(spark, [("r-1", _record(ended=False), "2024-03-05T10:02:00.000Z")])
    )
    row = frames.calls.collect()[0]
    assert (row["state"], row["duration_ms"], row["talk_ms"], row["abandoned"]) == (
        "open",
        None,
        None,
        False,
    )


def test_build_facts_requested_skills_become_one_row_each(spark: Any) -> None:
    frames = build_conversation_facts(
        _versions(spark, [("r-1", _record(ended=True), "2024-03-05T10:06:00.000Z")])
    )
    rows = sorted((row["_id"], row["queue_id"]) for row in frames.call_skills.collect())
    assert rows == [("c-1:s-1", "q-1"), ("c-1:s-2", "q-1")]


def test_build_facts_rejects_bad_json_and_missing_id_with_reasons(spark: Any) -> None:
    keyless = _record(ended=True)
    del keyless["conversationId"]
    frames = build_conversation_facts(
        _versions(
            spark,
            [
                ("r-bad", "{not json", "2024-03-05T10:06:00.000Z"),
                ("r-noid", keyless, "2024-03-05T10:06:00.000Z"),
            ],
        )
    )
    rejected = sorted((row["raw_id"], row["reason"]) for row in frames.rejected.collect())
    assert rejected == [
        ("r-bad", "payload is not a JSON object of a conversation record"),
        ("r-noid", "conversationId is missing or blank"),
    ]
    assert frames.calls.count() == 0


def test_build_facts_first_loaded_is_the_earliest_version(spark: Any) -> None:
    frames = build_conversation_facts(
        _versions(
            spark,
            [
                ("r-live", _record(ended=False), "2024-03-05T10:02:00.000Z"),
                ("r-ended", _record(ended=True), "2024-03-05T10:06:00.000Z"),
            ],
        )
    )
    assert frames.calls.collect()[0]["first_loaded_at"] == datetime(2024, 3, 5, 10, 2)
    assert datetime(2024, 3, 5, 10, 2, tzinfo=UTC).tzinfo is UTC


@pytest.mark.parametrize("listed_first", ["callback", "voice"])
def test_build_facts_media_type_is_the_customers_earliest_session(
    spark: Any, listed_first: str
) -> None:
    record = _record(ended=True)
    sessions = {
        "callback": {
            "mediaType": "callback",
            "segments": [_segment("2024-03-05T10:00:00.000Z", None, "scheduled")],
        },
        "voice": {
            "mediaType": "voice",
            "segments": [_segment("2024-03-05T10:01:00.000Z", None, "interact")],
        },
    }
    # Either order in the payload: only the segment start may decide.
    order = [listed_first, "voice" if listed_first == "callback" else "callback"]
    record["participants"][0]["sessions"] = [sessions[name] for name in order]
    frames = build_conversation_facts(_versions(spark, [("r-1", record, "2024-03-05T10:06:00Z")]))
    assert frames.calls.collect()[0]["media_type"] == "callback"
