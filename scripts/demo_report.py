"""What the demo landed: counts per collection, a few `fact_call` rows, and a check of
`fact_call` against the simulator's ground truth for the captured range."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from pymongo import MongoClient

from simulator.view import matches_interval

FACT_COLUMNS = (
    "conversation_id",
    "conversation_start",
    "media_type",
    "direction",
    "last_queue_key",
    "agent_key",
    "wrapup_key",
    "talk_ms",
    "handle_ms",
    "state",
)


def expected_conversations(truth: list[dict[str, Any]], start: datetime, end: datetime) -> set[str]:
    """Ids of the conversations the details query returns for [start, end) once final."""
    return {record["conversationId"] for record in truth if matches_interval(record, start, end)}


def _short(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = "-" if value is None else str(value)
    return text if len(text) <= 12 else text[:8] + "…"


def print_report(
    uri: str,
    truth: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    every_collection: bool = True,
) -> int:
    """Print the summary; return 0 when every expected conversation has exactly one fact.

    With `every_collection`, every dimension and fact collection must hold documents too; a
    few recorded payloads (fixture mode) may have no skills, so there it is not required.
    """
    client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
    try:
        raw = client[os.environ.get("MONGO_RAW_DATABASE", "genesys_raw")]
        dwh = client[os.environ.get("MONGO_DWH_DATABASE", "genesys_dwh")]
        for db in (raw, dwh):
            print(f"\n{db.name}:")
            for name in sorted(db.list_collection_names()):
                print(f"  {name:<20} {db[name].count_documents({}):>7}")

        expected = expected_conversations(truth, start, end)
        landed = {doc["_id"] for doc in dwh.fact_call.find({"_id": {"$in": sorted(expected)}})}
        missing = sorted(expected - landed)
        rows = list(dwh.fact_call.find({"_id": {"$in": sorted(landed)}}).sort("_id", 1).limit(5))
        print("\nfact_call, first rows of the range:")
        print("  " + " | ".join(FACT_COLUMNS))
        for row in rows:
            print("  " + " | ".join(_short(row.get(column)) for column in FACT_COLUMNS))
        final = dwh.fact_call.count_documents({"_id": {"$in": sorted(landed)}, "is_final": True})
        summary = {
            "range_start": start.isoformat(),
            "range_end": end.isoformat(),
            "truth_in_range": len(expected),
            "fact_call_in_range": len(landed),
            "final": final,
            "open": len(landed) - final,
            "missing": len(missing),
            "quarantined": dwh.quarantine.count_documents({}),
        }
        print("\n" + json.dumps(summary))
        if missing:
            print(f"demo: FAILED: {len(missing)} conversations missing, e.g. {missing[:3]}")
            return 1
        empty = [n for n in _dimension_and_fact_names() if dwh[n].count_documents({}) == 0]
        if empty and not every_collection:
            print(f"demo: note: no documents in {empty} (the recorded payloads have none)")
        elif empty:
            print(f"demo: FAILED: empty DWH collections {empty}")
            return 1
        filled = "every DWH collection filled" if not empty else "recorded payloads curated"
        print(f"demo: OK: one fact_call per conversation of the range, {filled}")
        return 0
    finally:
        client.close()


def _dimension_and_fact_names() -> list[str]:
    return [
        "dim_user",
        "dim_queue",
        "dim_division",
        "dim_skill",
        "dim_wrapup_code",
        "fact_call",
        "fact_call_skill",
    ]
