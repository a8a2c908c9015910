"""Live scenarios: the whole pipeline against the simulator with its clock running.

One run gives window durations (capture and curate per 3-minute window), API requests against
the minimum, freshness (conversation end to its final `fact_call`) and peak memory. The clock
may run `speed` times faster than real time; the capture trigger is then `window / speed` real
seconds, so every batch still covers a 2-minute step of a 3-minute window on the API's clock,
exactly as in production. Processing takes real seconds whatever the speed, so freshness is
mapped back to real time per conversation:

    freshness = (W - end) + (landed - real_instant_of(W))

where W is the end of the capture window whose poll first returned the conversation's final
record (virtual seconds, the wait for a poll, as in production) and the second term is real
seconds from that poll's planning to the curate batch that wrote the final fact.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import os
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from app.config import parse_instant
from bench.spark_run import run_child
from bench.stats import ratio, summary
from connectors.genesys.windows import format_instant
from simulator.server import SimulatorConfig, start_simulator

log = logging.getLogger(__name__)

PAGE_SIZE = 100
BUDGET_PER_MINUTE = 300
WATCH_SECONDS = 0.5
# Conversations generated before the clock starts, so that the center is busy from the first
# window on (e-mails and callbacks last up to hours).
HISTORY_MINUTES = 60.0
CATCH_UP_STEP_S = 120.0


@dataclass(frozen=True)
class LivePlan:
    """One run: the center, the clock, the triggers and how many windows to capture.

    Live (the default), the capture follows the running clock. `catch_up` captures a past
    range instead, one 2-minute step per batch (CAPTURE_MAX_BATCH_SECONDS) as fast as the
    pipeline goes: every batch is then a full 3-minute window however long processing takes.
    """

    name: str
    seats: int
    conversations_per_hour: float
    speed: float
    capture_trigger_s: int  # real seconds; live, the API clock moves speed times more per batch
    curate_trigger_s: int
    windows: int
    catch_up: bool = False
    master: str = "local[2]"
    seed: int = 5
    capture_start: datetime = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

    @property
    def step_s(self) -> float:
        """Virtual seconds each batch advances the capture (2 minutes in production)."""
        return CATCH_UP_STEP_S if self.catch_up else self.capture_trigger_s * self.speed

    @property
    def capture_end(self) -> datetime:
        """The end of the bounded run: the capture start plus `windows` steps."""
        return self.capture_start + timedelta(seconds=self.windows * self.step_s)

    @property
    def clock_start(self) -> datetime:
        """Where the simulator's clock starts: at the capture start, or after the range."""
        if self.catch_up:
            return self.capture_end + timedelta(minutes=1)
        return self.capture_start


class FactWatcher:
    """Polls `curate_batches`; when a curate batch appears, notes the real time at which each
    final `fact_call` it wrote was first seen, and the raw version it was built from."""

    def __init__(self, uri: str, dwh_database: str) -> None:
        self.client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
        self.db = self.client[dwh_database]
        self.first_final: dict[str, tuple[float, str]] = {}  # id -> (epoch s, raw version)
        self.curate_batches: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fact-watcher", daemon=True)

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, take a last look, close the connection."""
        self._stop.set()
        self._thread.join(timeout=30)
        self._poll()
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(WATCH_SECONDS)

    def _poll(self) -> None:
        after = self.curate_batches[-1]["_id"] if self.curate_batches else -1
        for batch in self.db["curate_batches"].find({"_id": {"$gt": after}}).sort("_id", 1):
            seen_at = time.time()
            self.curate_batches.append({**batch, "seen_at": seen_at})
            query = {"etl_batch": batch["raw_batch"], "is_final": True}
            for fact in self.db["fact_call"].find(query, {"_id": 1, "etl_raw_version": 1}):
                self.first_final.setdefault(fact["_id"], (seen_at, fact["etl_raw_version"]))


def _simulator_config(plan: LivePlan, client_id: str, secret: str) -> SimulatorConfig:
    run_minutes = plan.windows * plan.step_s / 60
    before_clock = (plan.clock_start - plan.capture_start).total_seconds() / 60
    return SimulatorConfig(
        client_id=client_id,
        client_secret=secret,
        seed=plan.seed,
        start=plan.clock_start,
        speed=plan.speed,
        agents=plan.seats,
        conversations_per_hour=plan.conversations_per_hour,
        history_minutes=HISTORY_MINUTES + before_clock,
        # Enough generated traffic for a slow start of Spark and the run itself.
        duration_minutes=30 if plan.catch_up else run_minutes * 2 + 30,
        rate_limit_per_minute=BUDGET_PER_MINUTE,
    )


def _app_settings(
    plan: LivePlan, api_url: str, client_id: str, secret_file: Path, uri: str, work: Path
) -> dict[str, str]:
    return {
        "GENESYS_API_BASE_URL": api_url,
        "GENESYS_CLIENT_ID": client_id,
        "GENESYS_CLIENT_SECRET_FILE": str(secret_file),
        "MONGO_URI": uri,
        "MONGO_RAW_DATABASE": f"bench_{plan.name}_raw",
        "MONGO_DWH_DATABASE": f"bench_{plan.name}_dwh",
        "CAPTURE_START": format_instant(plan.capture_start),
        "CAPTURE_END": format_instant(plan.capture_end),
        "CAPTURE_TRIGGER_SECONDS": str(plan.capture_trigger_s),
        # A 60 s overlap on the API's clock: each poll covers step + 60 s (3 minutes).
        "CAPTURE_LOOKBACK_SECONDS": str(plan.capture_trigger_s + 60),
        "CAPTURE_MAX_BATCH_SECONDS": str(int(plan.step_s) if plan.catch_up else 3600),
        "CURATE_TRIGGER_SECONDS": str(plan.curate_trigger_s),
        "GENESYS_ETL_CHECKPOINTS": str(work / "checkpoints"),
        "SPARK_MASTER": plan.master,
        "SPARK_SHUFFLE_PARTITIONS": "2",
    }


def run_live(plan: LivePlan, uri: str, work: Path, mongo_pid: int | None) -> dict[str, Any]:
    """Run the plan against a fresh pair of databases; return its figures and details."""
    work.mkdir(parents=True, exist_ok=True)
    client_id, secret = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    secret_file = work / "client-secret"
    secret_file.write_text(secret, encoding="utf-8")
    secret_file.chmod(0o600)
    # The bench starts its server on an empty folder, so the databases are new.
    settings = _app_settings(plan, "", client_id, secret_file, uri, work)

    simulator = start_simulator(_simulator_config(plan, client_id, secret))
    watcher = FactWatcher(uri, settings["MONGO_DWH_DATABASE"])
    try:
        settings["GENESYS_API_BASE_URL"] = simulator.base_url
        # Anchor the virtual clock to real time once: real(W) = anchor + (W - virtual) / speed.
        anchor = (time.time(), simulator.clock.now())
        watcher.start()
        try:
            # The simulator serves from this process: its CPU is the bench's.
            others = {"bench_and_simulator": os.getpid()}
            if mongo_pid:
                others["mongo_server"] = mongo_pid
            child = run_child("stream", settings, work / "stream.json", work / "stream.log", others)
        finally:
            watcher.stop()
        stats = _simulator_stats(simulator.base_url)
        truth = simulator.app.store.final()
    finally:
        simulator.stop()
    with MongoClient(uri, tz_aware=True) as client:
        raw = client[settings["MONGO_RAW_DATABASE"]]
        windows = _windows(child.report, raw)
        freshness = {} if plan.catch_up else _freshness(plan, watcher, truth, raw, anchor, windows)
    return {
        "plan": _plan_json(plan),
        "windows": windows,
        "window_summary": _window_summary(windows),
        "api": _api(plan, windows, stats.get("clients", {}).get(client_id, {})),
        "freshness": freshness,
        "usage": child.usage,
        "process_s": child.process_s,
        "spark_profile": child.report.get("profile"),
        "spark_version": child.report.get("spark_version"),
    }


def _plan_json(plan: LivePlan) -> dict[str, Any]:
    return {
        "seats": plan.seats,
        "conversations_per_hour": plan.conversations_per_hour,
        "clock_speed": plan.speed,
        "capture_trigger_real_s": plan.capture_trigger_s,
        "capture_step_virtual_s": plan.step_s,
        "curate_trigger_real_s": plan.curate_trigger_s,
        "windows_planned": plan.windows,
        "catch_up": plan.catch_up,
        "master": plan.master,
    }


def _simulator_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/simulator/stats", timeout=30) as answer:
        return json.loads(answer.read())


def _offset(value: Any) -> dict[str, Any]:
    """A progress report's offset: Python sources report the text of a dict, others JSON."""
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return ast.literal_eval(value)


def _windows(report: dict[str, Any], raw: Any) -> list[dict[str, Any]]:
    """One record per capture batch: its step, durations, records, requests and pages.

    When curate falls behind, one curate batch takes several landings at once. Each window is
    charged the whole batch (`total_s` = `capture_s` + `curate_batch_s`): a curate batch costs
    mostly a fixed amount whatever it holds, and at the production pace, one landing per
    2-minute trigger, every landing is curated alone. The share (`curate_s`, the batch divided
    by its landings) is kept beside it; it credits the catch-up's merging of landings.
    """
    markers = sorted(raw["ingest_batches"].find({}, {"land_seq": 1}), key=lambda m: m["land_seq"])
    curated = sorted((int(_offset(b["end_offset"])["seq"]), b) for b in report["curate"])
    landings_of: dict[int, int] = {}
    previous_seq = -1
    for seq, _ in curated:
        landings_of[seq] = sum(1 for m in markers if previous_seq < m["land_seq"] <= seq)
        previous_seq = seq
    windows: list[dict[str, Any]] = []
    previous_end: datetime | None = None
    for batch in report["capture"]:
        batch_key = _offset(batch["end_offset"])["until"]
        marker = raw["ingest_batches"].find_one({"_id": batch_key})
        if marker is None:
            continue  # a batch without planned work lands nothing
        parts = list(raw["capture_windows"].find({"batch_key": batch_key}))
        talks = [p for p in parts if p["endpoint"] == "conversations"]
        seq, curate = next(((q, b) for q, b in curated if q >= marker["land_seq"]), (0, None))
        end = parse_instant(batch_key)
        capture_s = batch["duration_ms"]["triggerExecution"] / 1000
        curate_batch_s = curate["duration_ms"]["triggerExecution"] / 1000 if curate else None
        curate_s = None if curate_batch_s is None else curate_batch_s / max(landings_of[seq], 1)
        windows.append(
            {
                "batch_key": batch_key,
                "step_virtual_s": (end - previous_end).total_seconds() if previous_end else None,
                "capture_s": capture_s,
                "curate_s": None if curate_s is None else round(curate_s, 2),
                "curate_batch_s": curate_batch_s,
                "curate_batch_landings": landings_of.get(seq),
                "total_s": None if curate_batch_s is None else round(capture_s + curate_batch_s, 2),
                "capture_api_s": round(sum(p["duration_ms"] for p in parts) / 1000, 2),
                "conversations": sum(p["records"] for p in talks),
                "pages": sum(p["pages"] for p in talks),
                "min_requests": sum(math.ceil(p["records"] / PAGE_SIZE) for p in talks),
                "conversation_requests": sum(p["requests"] for p in talks),
                "listing_requests": sum(p["requests"] for p in parts if p not in talks),
                "token_requests": sum(p.get("token_refreshes", 0) for p in parts),
                "retries": sum(p.get("retries", 0) for p in parts),
            }
        )
        previous_end = end
    return windows


def _steady(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The first batch of a run lists every dimension and covers the time Spark took to start.
    return windows[1:]


def _window_summary(windows: list[dict[str, Any]]) -> dict[str, Any]:
    steady = [w for w in _steady(windows) if w["total_s"] is not None]
    return {
        "steady_windows": len(steady),
        "conversations_per_window": summary([w["conversations"] for w in steady], 0),
        "capture_s": summary([w["capture_s"] for w in steady]),
        "capture_api_s": summary([w["capture_api_s"] for w in steady]),
        "curate_s": summary([w["curate_s"] for w in steady]),
        "curate_batch_s": summary([w["curate_batch_s"] for w in steady]),
        "curate_batch_landings": summary([w["curate_batch_landings"] for w in steady], 1),
        "total_s": summary([w["total_s"] for w in steady]),
        "step_virtual_s": summary([w["step_virtual_s"] for w in steady], 0),
        "first_window": windows[0] if windows else None,
    }


def _api(plan: LivePlan, windows: list[dict[str, Any]], client: dict[str, Any]) -> dict[str, Any]:
    """Requests against the minimum (pages of 100), per window, per 1,000 and per budget.

    The simulator counts every request of the client: pages, tokens, the clock probe of each
    trigger, the watchlist's fetches by id (made on the driver, outside `capture_windows`) and
    the listings. The listings of the first batch are replaced by their share of one refresh
    every 30 minutes, so that a short run shows the steady state.
    """
    if len(windows) < 2 or not client.get("requests"):
        return {}
    first_listings = windows[0]["listing_requests"]
    listings = first_listings / (1800 / plan.step_s)
    per_window = (client["requests"] - first_listings) / len(windows) + listings
    minimum = sum(w["min_requests"] for w in windows) / len(windows)
    records = sum(w["conversations"] for w in windows) / len(windows)
    in_partitions = sum(w["conversation_requests"] + w["listing_requests"] for w in windows)
    per_minute = per_window / (plan.step_s / 60)
    return {
        "requests_per_window": round(per_window, 2),
        "min_requests_per_window": round(minimum, 2),
        "requests_vs_min": ratio(per_window, minimum),
        "requests_per_1000_conversations": ratio(per_window * 1000, records),
        "min_per_1000_conversations": ratio(minimum * 1000, records),
        "pages_per_window": round(sum(w["pages"] for w in windows) / len(windows), 2),
        "token_requests_per_window": round(
            sum(w["token_requests"] for w in windows[1:]) / max(len(windows) - 1, 1), 2
        ),
        # Clock probes and watchlist fetches: everything the capture partitions do not count.
        "requests_outside_partitions_per_window": round(
            (client["requests"] - in_partitions) / len(windows), 2
        ),
        "listing_requests_first_batch": first_listings,
        "listing_requests_amortized_per_window": round(listings, 2),
        "requests_per_minute_at_real_time": round(per_minute, 2),
        "budget_share": round(per_minute / BUDGET_PER_MINUTE, 4),
        "client_requests_total": client["requests"],
        "client_statuses": client.get("statuses"),
    }


def _freshness(
    plan: LivePlan,
    watcher: FactWatcher,
    truth: list[dict[str, Any]],
    raw: Any,
    anchor: tuple[float, datetime],
    windows: list[dict[str, Any]],
) -> dict[str, Any]:
    """Conversation end to its first final fact, mapped to real time (module docstring)."""
    if len(windows) < 3:
        return {}
    real0, virtual0 = anchor
    # The first curate batch of a run is cold (JVM, plans) and slow; a service runs for
    # weeks, so only conversations that end after it count.
    warm_real = watcher.curate_batches[0]["seen_at"] if watcher.curate_batches else real0
    warm = virtual0 + timedelta(seconds=(warm_real - real0) * plan.speed)
    first_end = max(parse_instant(windows[0]["batch_key"]), warm)
    last_end = parse_instant(windows[-1]["batch_key"]) - timedelta(seconds=plan.step_s)
    ended = {
        record["conversationId"].strip().lower(): parse_instant(record["conversationEnd"])
        for record in truth
        if record.get("conversationEnd")
        and first_end < parse_instant(record["conversationEnd"]) <= last_end
    }
    seen = {cid: watcher.first_final[cid] for cid in ended if cid in watcher.first_final}
    versions = [version for _, version in seen.values()]
    landed_by = {
        doc["_id"]: parse_instant(doc["ingest_batch"])
        for doc in raw["conversations"].find({"_id": {"$in": versions}}, {"ingest_batch": 1})
    }
    waits, processing, mapped, virtual = [], [], [], []
    for cid, (seen_at, version) in seen.items():
        window_end, end = landed_by[version], ended[cid]
        real_of_window = real0 + (window_end - virtual0).total_seconds() / plan.speed
        waits.append((window_end - end).total_seconds())
        processing.append(seen_at - real_of_window)
        mapped.append(waits[-1] + processing[-1])
        virtual_seen = virtual0 + timedelta(seconds=(seen_at - real0) * plan.speed)
        virtual.append((virtual_seen - end).total_seconds())
    return {
        "counted_from": format_instant(first_end),
        "counted_until": format_instant(last_end),
        "conversations_ended": len(ended),
        "conversations_final_seen": len(seen),
        "missing": len(ended) - len(seen),
        "freshness_s": summary(mapped, 1),
        "wait_for_poll_s": summary(waits, 1),
        "processing_s": summary(processing, 1),
        "on_virtual_clock_s": summary(virtual, 1),
    }
