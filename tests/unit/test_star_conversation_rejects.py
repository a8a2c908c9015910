"""Conversation versions that cannot be curated go to quarantine with a precise reason."""

from __future__ import annotations

import json
from typing import Any

from connectors.mongo.raw_source import RAW_VERSION_SCHEMA
from jobs.star.conversations import (
    BAD_END,
    BAD_START,
    NOT_AN_OBJECT,
    PARTICIPANTS_NOT_ARRAY,
    WRONG_TYPES,
    parse_versions,
)

GOOD = {"conversationId": "c-1", "conversationStart": "2026-12-04T10:00:00.000Z"}


def _reasons(spark: Any, payloads: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    rows = [
        ("conversations", raw_id, raw_id, "B1", None, None,
         payload if isinstance(payload, str) else json.dumps(payload), "B9", 9)
        for raw_id, payload in payloads.items()
    ]  # fmt: skip
    keyed, rejected = parse_versions(spark.createDataFrame(rows, RAW_VERSION_SCHEMA))
    return (
        sorted(row["raw_id"] for row in keyed.collect()),
        sorted((row["raw_id"], row["reason"]) for row in rejected.collect()),
    )


def test_parse_versions_bad_payloads_get_their_reason(spark: Any) -> None:
    payloads = {
        "ok": GOOD,
        "ok-open": {**GOOD, "participants": None},
        "array": [1, 2],
        "participants-object": {**GOOD, "participants": {"purpose": "agent"}},
        "metric-text": {
            **GOOD,
            "participants": [{"sessions": [{"metrics": [{"name": "tTalk", "value": "x"}]}]}],
        },
        "no-start": {"conversationId": "c-1"},
        "start-year-56146": {**GOOD, "conversationStart": "1709633730123000"},
        "start-feb-30": {**GOOD, "conversationStart": "2026-02-30T10:00:00Z"},
        "end-garbage": {**GOOD, "conversationEnd": "soon"},
    }
    keyed, rejected = _reasons(spark, payloads)
    assert keyed == ["ok", "ok-open"]
    assert rejected == [
        ("array", NOT_AN_OBJECT),
        ("end-garbage", BAD_END),
        ("metric-text", WRONG_TYPES),
        ("no-start", BAD_START),
        ("participants-object", PARTICIPANTS_NOT_ARRAY),
        ("start-feb-30", BAD_START),
        ("start-year-56146", BAD_START),
    ]
