"""The naive baseline of the replay: the curate transformation of conversations written as
plain per-document Python with pymongo, one conversation at a time.

For each conversation it reads the conversation's stored versions (one query), picks the best
version with the same ranking as `jobs/star/conversations.py`, builds its `fact_call` and
`fact_call_skill` documents (same fields, references resolved against the dimensions read once
at start) and replaces them one by one. It skips what the Spark job adds on top (data-quality
rules, quarantine, the reconciliation), so it is, if anything, a flattering baseline.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from connectors.mongo.raw_store import READ_CHUNK

TRANSFER_DISCONNECTS = {"transfer", "consulttransfer", "forwardtransfer", "notavailabletransfer"}
METRICS = {
    "tTalkComplete": "talk_complete_ms", "tTalk": "talk_running_ms",
    "tHeldComplete": "hold_complete_ms", "tHeld": "hold_running_ms", "tAcw": "acw_ms",
    "tHandle": "handle_ms", "tAcd": "wait_ms", "tAlert": "alert_ms", "tIvr": "ivr_ms",
    "tAbandon": "abandon_ms", "tNotResponding": "not_responding_ms", "nOffered": "n_offered",
    "nTransferred": "n_transferred",
}  # fmt: skip
REFERENCES = {
    "division_id": "dim_division", "first_queue_id": "dim_queue", "last_queue_id": "dim_queue",
    "agent_id": "dim_user", "wrapup_code": "dim_wrapup_code",
}  # fmt: skip


def clean(value: Any) -> str | None:
    """Trim and lower-case an id; blank or "null" is None (the simple cases of clean_id)."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return None if text in ("", "null") else text


def instant(value: Any) -> datetime | None:
    """An ISO-8601 instant as an aware datetime, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def segments(payload: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every segment with its participant's purpose and user and its session's media type."""
    for participant in payload.get("participants") or []:
        for session in participant.get("sessions") or []:
            for segment in session.get("segments") or []:
                yield {
                    "purpose": clean(participant.get("purpose")),
                    "user_id": clean(participant.get("userId")),
                    "media_type": clean(session.get("mediaType")),
                    "start": instant(segment.get("segmentStart")),
                    "end": instant(segment.get("segmentEnd")),
                    "type": clean(segment.get("segmentType")),
                    "queue_id": clean(segment.get("queueId")),
                    "skill_ids": [clean(s) for s in segment.get("requestedRoutingSkillIds") or []],
                    "disconnect": clean(segment.get("disconnectType")),
                    "wrapup_code": clean(segment.get("wrapUpCode")),
                }


def rank(version: dict[str, Any]) -> tuple[Any, ...]:
    """The ranking of versions: latest activity, ended, most segments, last seen, raw id."""
    payload = version["payload"]
    parts = list(segments(payload))
    end = instant(payload.get("conversationEnd"))
    moments = [m for s in parts for m in (s["start"], s["end"]) if m] + ([end] if end else [])
    floor = datetime.min.replace(tzinfo=UTC)
    return (
        max(moments, default=floor),
        end is not None,
        len(parts),
        version.get("last_seen_at") or floor,
        version["_id"],
    )


def _first(parts: list[dict[str, Any]], field: str, latest: bool = False) -> Any:
    timed = [s for s in parts if s[field] is not None and s["start"] is not None]
    if not timed:
        return None
    pick = max if latest else min
    return pick(timed, key=lambda s: s["start"])[field]


def fact_documents(
    versions: list[dict[str, Any]], known: dict[str, set[str]], batch: str, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fact_call document and the fact_call_skill documents of one conversation."""
    best = max(versions, key=rank)
    payload, parts = best["payload"], list(segments(best["payload"]))
    cid = clean(payload.get("conversationId"))
    start, end = instant(payload.get("conversationStart")), instant(payload.get("conversationEnd"))
    metrics: dict[str, float] = {}
    for participant in payload.get("participants") or []:
        for session in participant.get("sessions") or []:
            for metric in session.get("metrics") or []:
                column = METRICS.get(metric.get("name"))
                if column and isinstance(metric.get("value"), int | float):
                    metrics[column] = metrics.get(column, 0) + metric["value"]
    talks = [s for s in parts if s["purpose"] == "agent" and s["type"] == "interact"]
    customer = [s for s in parts if s["purpose"] in ("customer", "external")]
    divisions = [d for d in (clean(x) for x in payload.get("divisionIds") or []) if d]
    fact: dict[str, Any] = {
        "_id": cid,
        "conversation_id": cid,
        "conversation_start": start,
        "conversation_end": end,
        "date_key": int(start.strftime("%Y%m%d")) if start else None,
        "hour": start.hour if start else None,
        "duration_ms": int((end - start).total_seconds() * 1000) if start and end else None,
        "direction": clean(payload.get("originatingDirection")),
        "media_type": _first(customer, "media_type") or _first(parts, "media_type") or "unknown",
        "division_ids": divisions,
        "division_id": divisions[0] if divisions else None,
        "first_queue_id": _first(parts, "queue_id"),
        "last_queue_id": _first(parts, "queue_id", latest=True),
        "agent_id": _first(talks, "user_id", latest=True),
        "wrapup_code": _first(parts, "wrapup_code", latest=True),
        "answered": bool(talks),
        "abandoned": "abandon_ms" in metrics
        or (end is not None and any(s["purpose"] == "acd" for s in parts) and not talks),
        "transferred": metrics.get("n_transferred", 0) > 0
        or any(s["purpose"] == "agent" and s["disconnect"] in TRANSFER_DISCONNECTS for s in parts),
        "talk_ms": metrics.get("talk_complete_ms", metrics.get("talk_running_ms")),
        "hold_ms": metrics.get("hold_complete_ms", metrics.get("hold_running_ms")),
        **{k: metrics.get(k) for k in ("acw_ms", "handle_ms", "wait_ms", "alert_ms", "ivr_ms")},
        **{k: metrics.get(k) for k in ("abandon_ms", "not_responding_ms", "n_offered")},
        "n_transferred": metrics.get("n_transferred"),
        "agent_count": len({s["user_id"] for s in parts if s["user_id"]}),
        "segment_count": len(parts),
        "is_final": end is not None,
        "state": "final" if end is not None else "open",
    }
    for column, collection in REFERENCES.items():
        key = column.removesuffix("_id").removesuffix("_code") + "_key"
        fact[key] = fact[column] if fact[column] in known[collection] else "unknown"
    audit = {
        "etl_first_loaded_at": min(v["first_seen_at"] for v in versions),
        "etl_last_updated_at": now,
        "etl_batch": batch,
        "etl_raw_version": best["_id"],
        "etl_transform_version": "naive",
    }
    fact.update(audit)
    return fact, _skill_documents(cid, parts, known, audit)


def _skill_documents(
    cid: str | None, parts: list[dict[str, Any]], known: dict[str, set[str]], audit: dict
) -> list[dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    for part in parts:
        if part["purpose"] not in ("customer", "acd", "agent") or part["start"] is None:
            continue
        for skill in filter(None, part["skill_ids"]):
            if skill not in first or part["start"] < first[skill]["start"]:
                first[skill] = part
    return [
        {
            "_id": f"{cid}:{skill}",
            "conversation_id": cid,
            "skill_id": skill,
            "queue_id": part["queue_id"],
            "first_requested_at": part["start"],
            "date_key": int(part["start"].strftime("%Y%m%d")),
            "skill_key": skill if skill in known["dim_skill"] else "unknown",
            "queue_key": part["queue_id"] if part["queue_id"] in known["dim_queue"] else "unknown",
            **audit,
        }
        for skill, part in first.items()
    ]


def naive_replay(uri: str, raw_db: str, dwh_db: str, conversation_ids: list[str]) -> float:
    """Curate `conversation_ids` one at a time into `dwh_db`; return the seconds it took.

    Versions are read in chunks of 500 ids, as the Spark source reads them: FerretDB answers
    a query on `entity_id` by scanning the collection, so one query per conversation would
    measure the scan, not the transformation. Writes are one `replace_one` per document.
    """
    with MongoClient(uri, tz_aware=True) as client:
        raw, dwh = client[raw_db], client[dwh_db]
        began = time.monotonic()
        known = _dimension_ids(raw)
        now = datetime.now(UTC).replace(microsecond=0)
        for first in range(0, len(conversation_ids), READ_CHUNK):
            chunk = conversation_ids[first : first + READ_CHUNK]
            versions: dict[str, list[dict[str, Any]]] = {}
            for doc in raw["conversations"].find({"entity_id": {"$in": chunk}}):
                versions.setdefault(doc["entity_id"], []).append(doc)
            for cid in chunk:
                fact, skills = fact_documents(versions[cid], known, "naive", now)
                dwh["fact_call"].replace_one({"_id": fact["_id"]}, fact, upsert=True)
                for skill in skills:
                    dwh["fact_call_skill"].replace_one({"_id": skill["_id"]}, skill, upsert=True)
        return time.monotonic() - began


def _dimension_ids(raw: Database[dict[str, Any]]) -> dict[str, set[str | None]]:
    """Dimension ids from the raw listings (the naive job writes no dimension documents)."""
    listings = {
        "dim_user": "users", "dim_queue": "queues", "dim_skill": "skills",
        "dim_wrapup_code": "wrapup_codes", "dim_division": "divisions",
    }  # fmt: skip
    return {
        dimension: {clean(doc["entity_id"]) for doc in raw[endpoint].find({}, {"entity_id": 1})}
        for dimension, endpoint in listings.items()
    }
