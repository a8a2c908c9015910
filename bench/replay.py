"""Replay: re-curate N conversations from the raw layer into an empty DWH, side by side with
the write ceiling (the same DWH documents upserted with pymongo `bulk_write`) and the naive
baseline (`bench.naive`), and with one core against two.

The raw layer is filled directly (no API): each generated conversation lands as a live view
from half-way through its life and as its final record, two versions, in landings of one
3-minute window's worth each, through `RawStore.land` and `mark_complete` as the capture does.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import MongoClient, ReplaceOne

from bench.naive import naive_replay
from bench.spark_run import ChildResult, run_child
from bench.stats import ratio
from connectors.genesys.windows import format_instant
from connectors.mongo import WRITE_BATCH_SIZE
from connectors.mongo.raw_store import INSERT_BATCH_SIZE, RawStore
from simulator.generator import ContactCenter, build_contact_center
from simulator.view import view_at

log = logging.getLogger(__name__)

RAW_DB = "bench_replay_raw"
LISTINGS = ("users", "queues", "skills", "wrapup_codes", "divisions")
DWH_COLLECTIONS = (
    "dim_user", "dim_queue", "dim_skill", "dim_wrapup_code", "dim_division",
    "fact_call", "fact_call_skill",
)  # fmt: skip
# FerretDB on SQLite serialises writers; two keep both cores busy without the hang seen
# with many writers in flight (connectors/mongo/__init__.py).
WRITERS = 2


@dataclass(frozen=True)
class ReplayPlan:
    """How many conversations to replay, from which generated center, in which landings."""

    conversations: int
    naive_conversations: int
    seats: int
    conversations_per_hour: float
    single_core: bool = True
    per_landing: int = 2500
    seed: int = 11
    start: datetime = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def generate(plan: ReplayPlan) -> ContactCenter:
    """A center with at least `plan.conversations` conversations (a little more is generated)."""
    hours = plan.conversations / plan.conversations_per_hour * 1.05 + 0.05
    return build_contact_center(
        plan.seed,
        agents=plan.seats,
        start=plan.start,
        end=plan.start + timedelta(hours=hours),
        conversations_per_hour=plan.conversations_per_hour,
    )


def _row(endpoint: str, entity_id: str, payload: Any, fetched: datetime, window: dict) -> dict:
    return {
        "endpoint": endpoint,
        "entity_id": entity_id,
        "payload": json.dumps(payload),
        "fetched_at": format_instant(fetched),
        **window,
    }


def _landing_rows(records: list[dict[str, Any]], key: str) -> list[dict]:
    starts = [r["conversationStart"] for r in records]
    window = {"batch_key": key, "window_start": min(starts), "window_end": key}
    fetched = datetime.fromisoformat(key.replace("Z", "+00:00"))
    rows = []
    for record in records:
        begin = datetime.fromisoformat(record["conversationStart"].replace("Z", "+00:00"))
        end_text = record.get("conversationEnd") or record["conversationStart"]
        end = datetime.fromisoformat(end_text.replace("Z", "+00:00"))
        live = view_at(record, begin + (end - begin) / 2)
        for payload in (live, record):
            if payload is not None:
                rows.append(
                    _row("conversations", record["conversationId"], payload, fetched, window)
                )
    return rows


def land(center: ContactCenter, plan: ReplayPlan, uri: str) -> dict[str, Any]:
    """Fill the raw layer: listings, then conversations in landings; return counts and time."""
    records = list(center.conversations[: plan.conversations])
    chunks = [records[i : i + plan.per_landing] for i in range(0, len(records), plan.per_landing)]
    began = time.monotonic()
    store = RawStore(uri, RAW_DB)
    store.ensure_indexes()
    listing_key = format_instant(plan.start)
    window = {"batch_key": listing_key, "window_start": listing_key, "window_end": listing_key}
    rows = [
        _row(name, entity["id"], entity, plan.start, window)
        for name in LISTINGS
        for entity in getattr(center, name)
    ]
    counts = store.land(rows, 1)
    store.mark_complete(listing_key, 1, dict(counts), {"partitions": len(LISTINGS)})
    store.close()
    versions = [0] * WRITERS

    def land_share(writer: int) -> None:
        store = RawStore(uri, RAW_DB)
        try:
            for index in range(writer, len(chunks), WRITERS):
                chunk = chunks[index]
                key = format_instant(
                    datetime.fromisoformat(chunk[-1]["conversationStart"].replace("Z", "+00:00"))
                    + timedelta(seconds=1)
                )
                counts = store.land(_landing_rows(chunk, key), index + 2)
                versions[writer] += counts["conversations"]
                store.mark_complete(key, index + 2, dict(counts), {"partitions": 1})
        finally:
            store.close()

    _in_writers(land_share)
    seconds = time.monotonic() - began
    return {
        "conversations": len(records),
        "conversation_versions": sum(versions),
        "listing_entities": len(rows),
        "landings": len(chunks) + 1,
        "seconds": round(seconds, 1),
        "versions_per_s": round(sum(versions) / seconds, 1),
    }


def _in_writers(share: Callable[[int], None]) -> None:
    """Run `share(writer)` for each of the WRITERS in its own thread; re-raise a failure."""
    failures: list[BaseException] = []

    def guarded(writer: int) -> None:
        try:
            share(writer)
        except BaseException as error:  # re-raised below, in the caller's thread
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _replay_settings(uri: str, dwh_db: str, master: str, work: Path) -> dict[str, str]:
    return {
        "MONGO_URI": uri,
        "MONGO_RAW_DATABASE": RAW_DB,
        "MONGO_DWH_DATABASE": dwh_db,
        "CURATE_TRIGGER_SECONDS": "1",
        "GENESYS_ETL_CHECKPOINTS": str(work / f"checkpoints-{dwh_db}"),
        "SPARK_MASTER": master,
        # As many shuffle partitions as cores, like the demo.
        "SPARK_SHUFFLE_PARTITIONS": master.removeprefix("local[").removesuffix("]"),
    }


def replay(uri: str, master: str, work: Path, others: dict[str, int]) -> ChildResult:
    """The curate query alone, fresh checkpoint, `master` cores, into its own empty DWH."""
    dwh_db = f"bench_replay_dwh_{master.removeprefix('local[').removesuffix(']')}"
    settings = _replay_settings(uri, dwh_db, master, work)
    return run_child("replay", settings, work / f"{dwh_db}.json", work / f"{dwh_db}.log", others)


def write_ceiling(
    uri: str, source_db: str, target_db: str, *, insert: bool = False
) -> dict[str, Any]:
    """Write every DWH document of `source_db` into an empty `target_db` from WRITERS threads
    and return the timing: upserts with `bulk_write` (replace by `_id`, batches of
    WRITE_BATCH_SIZE), the issue's ceiling; or, with `insert`, `insert_many` in batches of
    INSERT_BATCH_SIZE, what a replay into an empty DWH can do at best."""
    with MongoClient(uri, tz_aware=True) as client:
        documents = [
            (name, doc) for name in DWH_COLLECTIONS for doc in client[source_db][name].find()
        ]
    size = INSERT_BATCH_SIZE if insert else WRITE_BATCH_SIZE
    batches = [documents[i : i + size] for i in range(0, len(documents), size)]

    def write_share(writer: int) -> None:
        with MongoClient(uri, tz_aware=True) as client:
            target = client[target_db]
            for batch in batches[writer::WRITERS]:
                by_collection: dict[str, list[dict[str, Any]]] = {}
                for name, doc in batch:
                    by_collection.setdefault(name, []).append(doc)
                for name, docs in by_collection.items():
                    if insert:
                        target[name].insert_many(docs, ordered=False)
                    else:
                        replaces = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs]
                        target[name].bulk_write(replaces, ordered=False)

    began = time.monotonic()
    _in_writers(write_share)
    seconds = time.monotonic() - began
    return {
        "operation": "insert_many" if insert else "replace_upsert",
        "documents": len(documents),
        "seconds": round(seconds, 1),
        "documents_per_s": round(len(documents) / seconds, 1),
        "batch_size": size,
        "writers": WRITERS,
    }


def run_replay(plan: ReplayPlan, uri: str, work: Path, mongo_pid: int | None) -> dict[str, Any]:
    """Land, replay on two cores and on one, write ceiling, naive baseline; the figures."""
    work.mkdir(parents=True, exist_ok=True)
    others = {"bench": os.getpid(), **({"mongo_server": mongo_pid} if mongo_pid else {})}
    began = time.monotonic()
    center = generate(plan)
    generated_s = time.monotonic() - began
    landing = land(center, plan, uri)
    log.info("replay: raw layer filled: %s", landing)
    two = replay(uri, "local[2]", work, others)
    one = replay(uri, "local[1]", work, others) if plan.single_core else None
    ceiling = write_ceiling(uri, "bench_replay_dwh_2", "bench_replay_ceiling")
    log.info("replay: write ceiling %s", ceiling)
    insert_ceiling = write_ceiling(uri, "bench_replay_dwh_2", "bench_replay_inserts", insert=True)
    log.info("replay: insert ceiling %s", insert_ceiling)
    sample = [r["conversationId"] for r in center.conversations[: plan.naive_conversations]]
    naive_s = naive_replay(uri, RAW_DB, "bench_replay_naive", sample)
    n = landing["conversations"]
    with MongoClient(uri) as client:
        written = {
            name: client["bench_replay_dwh_2"][name].estimated_document_count()
            for name in ("fact_call", "fact_call_skill")
        }
    conv_per_s = {
        "spark_local2": round(n / two.report["wall_s"], 1),
        "spark_local1": round(n / one.report["wall_s"], 1) if one else None,
        "write_ceiling": round(n / ceiling["seconds"], 1),
        "insert_ceiling": round(n / insert_ceiling["seconds"], 1),
        "naive": round(len(sample) / naive_s, 1),
    }
    return {
        "conversations": n,
        "generate_s": round(generated_s, 1),
        "landing": landing,
        "dwh_documents_written": written,
        "conv_per_s": conv_per_s,
        "replay_vs_naive": ratio(conv_per_s["spark_local2"], conv_per_s["naive"]),
        "replay_vs_ceiling": ratio(conv_per_s["spark_local2"], conv_per_s["write_ceiling"]),
        "replay_vs_insert_ceiling": ratio(conv_per_s["spark_local2"], conv_per_s["insert_ceiling"]),
        "scaling_2_vs_1": ratio(conv_per_s["spark_local2"], conv_per_s["spark_local1"]),
        "local2": _child_json(two),
        "local1": _child_json(one) if one else None,
        "write_ceiling": ceiling,
        "insert_ceiling": insert_ceiling,
        "naive": {"conversations": len(sample), "seconds": round(naive_s, 1)},
    }


def _child_json(child: ChildResult) -> dict[str, Any]:
    return {
        "wall_s": child.report["wall_s"],
        "batches": [
            {"input_rows": b["input_rows"], "duration_ms": b["duration_ms"]}
            for b in child.report["curate"]
        ],
        "usage": child.usage,
        "spark_profile": child.report.get("profile"),
        "process_s": child.process_s,
    }
