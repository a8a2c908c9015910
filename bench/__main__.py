"""`python -m bench` (`make bench`): run the scenarios, write bench/results.json and refresh
the figures table of docs/benchmarks.md. Scale and scenarios: see bench/settings.py."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import configure_logging
from bench.live import LivePlan, run_live
from bench.replay import ReplayPlan, run_replay
from bench.report import ROOT, headline, machine, targets, update_doc, versions
from bench.settings import CONVERSATIONS_PER_SEAT_HOUR, BenchSettings, load_settings
from scripts.localmongo import mask_uri, start_local_mongo

log = logging.getLogger("bench")

RUN_DIR = ROOT / ".run" / "bench"
RESULTS = ROOT / "bench" / "results.json"


def window_plan(settings: BenchSettings) -> LivePlan:
    """Catch-up over a past range: one 3-minute window per batch, back to back."""
    return LivePlan(
        "windows",
        seats=settings.seats,
        conversations_per_hour=settings.seats * CONVERSATIONS_PER_SEAT_HOUR,
        speed=1.0,
        capture_trigger_s=2,
        curate_trigger_s=2,
        windows=settings.windows,
        catch_up=True,
    )


def freshness_plans(settings: BenchSettings) -> dict[str, LivePlan]:
    """The demo's triggers on a real-time clock, and the production defaults on a fast one."""
    common = {
        "seats": settings.fresh_seats,
        "conversations_per_hour": settings.fresh_conversations_per_hour,
    }
    return {
        "freshness_demo": LivePlan(
            "fresh_demo", speed=1.0, capture_trigger_s=10, curate_trigger_s=5,
            windows=settings.demo_windows, **common,
        ),
        "freshness_default": LivePlan(
            "fresh_default", speed=settings.speed, capture_trigger_s=int(120 / settings.speed),
            curate_trigger_s=10, windows=settings.default_windows, **common,
        ),
    }  # fmt: skip


def run_scenarios(settings: BenchSettings, uri: str, mongo_pid: int | None) -> dict[str, Any]:
    """Every chosen scenario, in order; each adds its details under its own key."""
    details: dict[str, Any] = {}
    timings: dict[str, float] = {}
    failed: list[str] = []

    def timed(name: str, action: Any) -> None:
        began = time.monotonic()
        log.info("scenario %s: starting", name)
        try:
            details[name] = action()
        except Exception as error:
            # One failed scenario must not throw away the minutes the others measured.
            log.exception("scenario %s failed; the others go on", name)
            details[name] = {"error": f"{type(error).__name__}: {error}"}
            failed.append(name)
        timings[name] = round(time.monotonic() - began, 1)
        log.info("scenario %s: done in %.0fs", name, timings[name])

    if "windows" in settings.scenarios:
        plan = window_plan(settings)
        timed("windows", lambda: run_live(plan, uri, RUN_DIR / "windows", mongo_pid))
    if "freshness" in settings.scenarios:
        for name, plan in freshness_plans(settings).items():
            timed(name, lambda p=plan, n=name: run_live(p, uri, RUN_DIR / n, mongo_pid))
    if "replay" in settings.scenarios:
        replay_plan = ReplayPlan(
            conversations=settings.replay_conversations,
            naive_conversations=settings.naive_conversations,
            seats=settings.seats,
            conversations_per_hour=settings.seats * CONVERSATIONS_PER_SEAT_HOUR,
            single_core=bool(settings.scaling),
        )
        timed("replay", lambda: run_replay(replay_plan, uri, RUN_DIR / "replay", mongo_pid))
    details["scenario_seconds"] = timings
    details["failed_scenarios"] = failed
    return details


def main() -> int:
    """Run the bench; exit 0 when every chosen scenario ran (targets may still be missed), 1
    when one failed (its error is in results.json, the others' figures too)."""
    configure_logging()
    settings = load_settings()
    began, started_at = time.monotonic(), datetime.now(UTC)
    # A new server on an empty folder: every scenario writes to new databases.
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)
    results: dict[str, Any] = {"settings": settings.as_json(), "machine": machine()}
    mongo = start_local_mongo(RUN_DIR / "mongo")
    try:
        log.info("bench: %s, MongoDB-wire server %s", settings, mask_uri(mongo.uri))
        results["versions"] = versions(mongo.uri, mongo.kind)
        pid = mongo.process.pid if mongo.process else None
        results.update(run_scenarios(settings, mongo.uri, pid))
    finally:
        mongo.stop()
    figures = headline(results)
    results = {
        **figures,
        "targets": targets(figures),
        "run": {
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - began, 1),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        **results,
    }
    RESULTS.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    update_doc(results)
    log.info("bench: wrote %s: %s", RESULTS, json.dumps(figures))
    if results["failed_scenarios"]:
        log.error("bench: scenarios failed: %s", ", ".join(results["failed_scenarios"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
