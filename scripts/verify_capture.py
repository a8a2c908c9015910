"""`make verify-capture`: capture a realistic night across midnight and check it with the truth.

Scenario (see docs/operations.md, "Capture verification"):

- a fresh MongoDB-wire server and the simulator's realistic profile (indexing lag, late
  wrap-ups, re-opened e-mails, approximate `totalHits`, paging cap, org changes, division
  grants) with a running clock, 200 agents and 3 simulated hours of traffic across midnight
  UTC, plus scheduled faults: a 429 storm, a token revoked on page N of a details query and a
  10-minute API outage (503 on every `/api/v2` call);
- the ETL as a subprocess (`python -m app.main run`, chaos.py's `Supervisor`), a bounded run
  whose end lies hours after the traffic so that late changes can arrive. Once the traffic is
  captured the clock jumps to that end and the capture catches up in capped batches. A
  non-zero exit is answered by a restart from the same checkpoints, as Kubernetes would;
- `fact_call` compared with each conversation's final record, for the conversations that
  started in the traffic range and that the client may see.

Prints one JSON line on stdout (progress on stderr, ETL logs in `.run/verify-capture/<time>/`)
and exits 0 only when the run finished and nothing is missing, stale or duplicated.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pymongo import MongoClient  # noqa: E402

from app.config import parse_instant  # noqa: E402
from connectors.genesys.windows import format_instant  # noqa: E402
from connectors.mongo.raw_store import MARKERS, RAW_ENDPOINTS  # noqa: E402
from scripts.chaos import (  # noqa: E402
    BUSINESS_KEYS,
    EtlTarget,
    Probe,
    Supervisor,
    as_instant,
    checkpoint_view,
    etl_environment,
    exit_on_signal,
    fact_problem,
    start_services_with,
)
from simulator.indexing import Revision  # noqa: E402
from simulator.profiles import realistic_faults  # noqa: E402
from simulator.server import RunningSimulator, SimulatorConfig  # noqa: E402

RUN_DIR = ROOT / ".run" / "verify-capture"
DETAILS_QUERY = "/api/v2/analytics/conversations/details/query"
# Kept at the end of the budget: a SIGTERM'd ETL may finish its batch, then the evaluation.
STOP_GRACE_S = 30.0
EVALUATE_RESERVE_S = 45.0
PROGRESS_EVERY_S = 30.0
EXAMPLES = 5


@dataclass(frozen=True)
class Plan:
    """The traffic range, the capture behind it and the faults on the way (all VERIFY_*)."""

    traffic_start: datetime
    hours: float = 3.0
    # CAPTURE_END lies this long after the traffic: late wrap-ups come up to 6 h after the
    # call, a re-opened e-mail up to 8 h after its first end (which may be 2 h after its start).
    settle_hours: float = 11.0
    agents: int = 200
    conversations_per_hour: float = 3000.0
    speed: float = 30.0
    seed: int = 11
    trigger_seconds: int = 4
    max_batch_seconds: int = 1800
    # The clock starts this long before the range: the ETL's start-up takes 30-60 real seconds.
    lead_minutes: float = 10.0
    storm_429s: int = 6
    retry_after_seconds: int = 3
    revoked_page: int = 2
    outage_minutes: float = 10.0
    budget_seconds: float = 19 * 60.0

    @property
    def traffic_end(self) -> datetime:
        """Conversations of the truth start before this instant."""
        return self.traffic_start + timedelta(hours=self.hours)

    @property
    def start(self) -> datetime:
        """CAPTURE_START: the traffic start."""
        return self.traffic_start

    @property
    def end(self) -> datetime:
        """CAPTURE_END: the traffic end plus the settle time."""
        return self.traffic_end + timedelta(hours=self.settle_hours)

    @property
    def clock_start(self) -> datetime:
        """Where the simulator's virtual clock begins."""
        return self.traffic_start - timedelta(minutes=self.lead_minutes)


def plan_from_env(env: Mapping[str, str]) -> Plan:
    """Read the VERIFY_* knobs (see docs/operations.md); unset ones keep the defaults."""
    start = parse_instant(env.get("VERIFY_START") or "2026-12-03T22:30:00Z")
    knobs: dict[str, Any] = {}
    for field_name, kind in (
        ("hours", float),
        ("settle_hours", float),
        ("agents", int),
        ("conversations_per_hour", float),
        ("speed", float),
        ("seed", int),
        ("trigger_seconds", int),
        ("max_batch_seconds", int),
        ("lead_minutes", float),
        ("storm_429s", int),
        ("retry_after_seconds", int),
        ("revoked_page", int),
        ("outage_minutes", float),
        ("budget_seconds", float),
    ):
        value = env.get(f"VERIFY_{field_name.upper()}", "").strip()
        if value:
            knobs[field_name] = kind(value)
    plan = Plan(start, **knobs)
    if plan.speed <= 0:
        sys.exit("verify-capture: VERIFY_SPEED must be above 0 (the clock has to run)")
    return plan


def scheduled_faults(plan: Plan) -> list[dict[str, Any]]:
    """The verifier's fault rules, on the virtual clock, on top of the profile's own four."""

    def at(minutes: float) -> str:
        return format_instant(plan.traffic_start + timedelta(minutes=minutes))

    return [
        # A 429 storm: several answers in a row with Retry-After, on any API call.
        {
            "path_prefix": "/api/v2",
            "status": 429,
            "times": plan.storm_429s,
            "retry_after": plan.retry_after_seconds,
            "from": at(45),
            "until": at(75),
        },
        # A token revoked in the middle of a paged query, after midnight. No `until`: the rule
        # waits for the first details query long enough to have that page.
        {"path_prefix": DETAILS_QUERY, "status": 401, "page": plan.revoked_page, "from": at(100)},
        # The API down: 503 on every call for `outage_minutes` of virtual time.
        {
            "path_prefix": "/api/v2",
            "status": 503,
            "times": 1_000_000,
            "from": at(130),
            "until": at(130 + plan.outage_minutes),
        },
    ]


def simulator_config(plan: Plan, client_id: str, client_secret: str) -> SimulatorConfig:
    """The realistic profile, its clock running, traffic only in the lead and the range."""
    return SimulatorConfig.realistic(
        client_id,
        client_secret,
        start=plan.clock_start,
        speed=plan.speed,
        seed=plan.seed,
        agents=plan.agents,
        conversations_per_hour=plan.conversations_per_hour,
        history_minutes=10.0,
        duration_minutes=plan.lead_minutes + plan.hours * 60,
        faults=realistic_faults(plan.clock_start) + tuple(scheduled_faults(plan)),
    )


# Settings of the ETL's new capture features, passed only when the VERIFY_* knob is set, so
# that by default the run checks the product as it ships (conf/application.toml).
FORWARDED_SETTINGS = {
    "VERIFY_SWEEP_SECONDS": "CAPTURE_SWEEP_SECONDS",
    "VERIFY_SWEEP_HORIZON_SECONDS": "CAPTURE_SWEEP_HORIZON_SECONDS",
    "VERIFY_REQUESTS_PER_MINUTE": "GENESYS_REQUESTS_PER_MINUTE",
}


def etl_env(plan: Plan, target: EtlTarget, env: Mapping[str, str]) -> dict[str, str]:
    """chaos.py's ETL environment with this plan's trigger, and the forwarded settings."""
    result = etl_environment(plan, target, trigger_seconds=plan.trigger_seconds)
    for knob, setting in FORWARDED_SETTINGS.items():
        if env.get(knob, "").strip():
            result[setting] = env[knob].strip()
    return result


# -- the comparison (pure) ----------------------------------------------------------------------


def final_wrapup_code(record: Mapping[str, Any]) -> str | None:
    """The wrap-up code `fact_call` should carry: the one on the latest-starting segment that
    has a code, trimmed and lower case (jobs/star/conversations.py picks it the same way)."""
    found: tuple[datetime, str] | None = None
    for participant in record.get("participants") or ():
        for session in participant.get("sessions") or ():
            for segment in session.get("segments") or ():
                code = str(segment.get("wrapUpCode") or "").strip().lower()
                started = as_instant(segment.get("segmentStart"))
                if code and started is not None and (found is None or started > found[0]):
                    found = (started, code)
    return found[1] if found else None


def stale_reason(fact: Mapping[str, Any], record: Mapping[str, Any], raw_ids: list[str]) -> str:
    """Why a present fact does not match the conversation's final record ("" when it does).

    chaos.py's checks (final, start, end, built from a stored raw version), then the wrap-up
    code, which a late wrap-up or a re-opened e-mail changes after the call.
    """
    problem = fact_problem(dict(fact), dict(record), raw_ids)
    if problem:
        return problem
    if fact.get("wrapup_code") != final_wrapup_code(record):
        return "wrapup_code differs"
    return ""


@dataclass(frozen=True)
class Comparison:
    """The DWH against the truth: counts and, per problem, the conversation ids."""

    truth: int
    landed: int
    missing: tuple[str, ...]
    stale: dict[str, str]


def compare(
    truth: Iterable[Mapping[str, Any]],
    facts: Mapping[str, Mapping[str, Any]],
    raw_ids: Mapping[str, list[str]],
) -> Comparison:
    """Compare final records with `fact_call` rows by conversation id.

    Args:
        truth: The final records the DWH must hold.
        facts: `fact_call` documents by `conversation_id`.
        raw_ids: Raw version ids (`_id` in the raw `conversations` collection) by conversation.
    """
    missing: list[str] = []
    stale: dict[str, str] = {}
    count = 0
    for record in truth:
        count += 1
        conversation_id = record["conversationId"]
        fact = facts.get(conversation_id)
        if fact is None:
            missing.append(conversation_id)
            continue
        reason = stale_reason(fact, record, raw_ids.get(conversation_id, []))
        if reason:
            stale[conversation_id] = reason
    return Comparison(count, count - len(missing), tuple(sorted(missing)), stale)


def duplicated(keys: Iterable[Hashable]) -> dict[Hashable, int]:
    """Keys seen more than once, with how many copies beyond the first."""
    counts = Counter(keys)
    return {key: n - 1 for key, n in counts.items() if n > 1}


def late_change_cause(record: Mapping[str, Any], revisions: tuple[Revision, ...]) -> str:
    """A label of what the simulator did to a conversation after the fact, to read problems by.

    It names the simulator's plan (re-opened e-mail, late wrap-up, crossing midnight), not a
    verdict on the ETL.
    """
    parts = []
    if revisions:
        first = revisions[0].record
        if first.get("conversationEnd") != record.get("conversationEnd"):
            parts.append("re-opened e-mail")
        else:
            ended = as_instant(record.get("conversationEnd"))
            arrived = as_instant(revisions[-1].visible_from)
            hours = (
                ended is not None and arrived is not None and arrived - ended >= timedelta(hours=1)
            )
            parts.append("late wrap-up (hours)" if hours else "late wrap-up (minutes)")
    started, ended = (
        as_instant(record.get("conversationStart")),
        as_instant(record.get("conversationEnd")),
    )
    if started is not None and ended is not None and started.date() != ended.date():
        parts.append("crosses midnight")
    return ", ".join(parts) or "no late change"


# -- reading the servers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Landed:
    """What the run left in MongoDB, read once after it."""

    facts: dict[str, dict[str, Any]]
    raw_ids: dict[str, list[str]]
    duplicated_raw: dict[Hashable, int]
    duplicated_keys: dict[str, dict[Hashable, int]]
    capture_batches: int
    capture_control: int
    quarantined: int


def read_landed(mongo_uri: str, raw_database: str, dwh_database: str) -> Landed:
    """Read facts, raw version ids and duplicates from the raw layer and the DWH."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        raw, dwh = client[raw_database], client[dwh_database]
        raw_ids: dict[str, list[str]] = {}
        versions: list[tuple[str, str, str]] = []
        for endpoint in RAW_ENDPOINTS:
            for doc in raw[endpoint].find({}, {"entity_id": 1, "payload_sha256": 1}):
                # Versions of a conversation differ by payload; the same payload twice is a
                # duplicate (its `_id` is the entity id and the payload's hash).
                versions.append((endpoint, doc["entity_id"], doc.get("payload_sha256", "")))
                if endpoint == "conversations":
                    raw_ids.setdefault(doc["entity_id"], []).append(doc["_id"])
        keys = {
            collection: duplicated(
                tuple(doc.get(k) for k in key)
                for doc in dwh[collection].find({}, dict.fromkeys(key, 1))
            )
            for collection, key in BUSINESS_KEYS.items()
        }
        return Landed(
            facts={doc["conversation_id"]: doc for doc in dwh.fact_call.find({})},
            raw_ids=raw_ids,
            duplicated_raw=duplicated(versions),
            duplicated_keys={name: found for name, found in keys.items() if found},
            capture_batches=raw[MARKERS].count_documents({}),
            capture_control=raw["capture_control"].count_documents({}),
            quarantined=dwh.quarantine.count_documents({}),
        )
    finally:
        client.close()


def client_usage(api_url: str, client_id: str) -> dict[str, Any]:
    """The client's line of GET /simulator/stats ({} when it made no API request)."""
    with urllib.request.urlopen(f"{api_url}/simulator/stats", timeout=10) as response:
        stats = json.loads(response.read())
    return dict(stats.get("clients", {}).get(client_id, {}))


def media_type(record: Mapping[str, Any]) -> str:
    """The first session's media type (voice, chat, email, callback)."""
    for participant in record.get("participants") or ():
        for session in participant.get("sessions") or ():
            if session.get("mediaType"):
                return str(session["mediaType"])
    return "unknown"


def problem_details(
    truth: list[dict[str, Any]],
    comparison: Comparison,
    landed: Landed,
    revisions: Mapping[str, tuple[Revision, ...]],
) -> dict[str, Any]:
    """Counts by reason and by cause, and a few examples of each problem."""
    by_id = {record["conversationId"]: record for record in truth}

    def cause(conversation_id: str) -> str:
        return late_change_cause(by_id[conversation_id], revisions.get(conversation_id, ()))

    def example(conversation_id: str) -> dict[str, Any]:
        record, fact = by_id[conversation_id], landed.facts.get(conversation_id) or {}
        shown: dict[str, Any] = {
            "id": conversation_id,
            "media": media_type(record),
            "cause": cause(conversation_id),
            "start": record["conversationStart"],
            "end": record.get("conversationEnd"),
            "wrapup_code": final_wrapup_code(record),
        }
        if fact:
            end = as_instant(fact.get("conversation_end"))
            shown["fact"] = {
                "end": format_instant(end) if end else None,
                "is_final": fact.get("is_final"),
                "wrapup_code": fact.get("wrapup_code"),
            }
            shown["reason"] = comparison.stale.get(conversation_id, "")
        return shown

    stale_ids = sorted(comparison.stale)
    return {
        "missing_by_cause": dict(Counter(cause(i) for i in comparison.missing)),
        "missing_by_media": dict(Counter(media_type(by_id[i]) for i in comparison.missing)),
        "missing_examples": [example(i) for i in comparison.missing[:EXAMPLES]],
        "stale_reasons": dict(Counter(comparison.stale.values())),
        "stale_by_cause": dict(Counter(cause(i) for i in stale_ids)),
        "stale_examples": [example(i) for i in stale_ids[:EXAMPLES]],
        "duplicated_raw_versions": sum(landed.duplicated_raw.values()),
        "duplicated_business_keys": {
            name: sum(found.values()) for name, found in landed.duplicated_keys.items()
        },
        "duplicate_examples": [
            f"{name}: {key}" for name, found in landed.duplicated_keys.items() for key in found
        ][:EXAMPLES]
        + [f"raw {key}" for key in landed.duplicated_raw][:EXAMPLES],
        "truth_by_cause": dict(Counter(cause(i) for i in by_id)),
        "quarantined": landed.quarantined,
        "capture_batches": landed.capture_batches,
        "capture_control_records": landed.capture_control,
    }


# -- the run ------------------------------------------------------------------------------------


def log(message: str) -> None:
    """Progress on stderr; stdout carries only the JSON line."""
    print(f"verify-capture: {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def capture_reached(checkpoints: Path) -> str:
    """How far the capture has planned (the newest offset of its checkpoint), "" before any."""
    return checkpoint_view(checkpoints / "capture").planned_offset


def report_progress(simulator: RunningSimulator, checkpoints: Path) -> None:
    """One stderr line: the virtual clock and how far capture and curate have come."""
    capture = checkpoint_view(checkpoints / "capture")
    curate = checkpoint_view(checkpoints / "curate")
    log(
        f"clock {format_instant(simulator.clock.now())}, capture batch {capture.planned} "
        f"to {capture.planned_offset or '-'}, curate batch {curate.committed} committed"
    )


def capture_traffic(
    supervisor: Supervisor, simulator: RunningSimulator, plan: Plan, deadline: float
) -> bool:
    """Keep the ETL running until its capture has planned past the traffic end (False when the
    deadline came first)."""
    checkpoints = supervisor.probe.checkpoints
    traffic_end = format_instant(plan.traffic_end)
    next_report = time.monotonic()
    while time.monotonic() < deadline:
        supervisor.ensure_running()
        if capture_reached(checkpoints) >= traffic_end:
            return True
        if time.monotonic() >= next_report:
            report_progress(simulator, checkpoints)
            next_report += PROGRESS_EVERY_S
        time.sleep(0.5)
    return False


def catch_up(
    supervisor: Supervisor, simulator: RunningSimulator, plan: Plan, deadline: float
) -> bool:
    """Jump the clock to CAPTURE_END and let the bounded run finish (False at the deadline).

    Every late change of the range has arrived by then; the capture covers the hours in
    batches of CAPTURE_MAX_BATCH_SECONDS, with the watchlist (and the sweep, when there is one)
    fetching what changed.
    """
    log(f"traffic captured; clock jumps to CAPTURE_END {format_instant(plan.end)}")
    simulator.clock.set(plan.end)
    while time.monotonic() < deadline:
        if supervisor.finish(timeout_s=min(PROGRESS_EVERY_S, deadline - time.monotonic())):
            return True
        report_progress(simulator, supervisor.probe.checkpoints)
    return False


def announce(simulator: RunningSimulator, client_id: str, plan: Plan) -> list[dict[str, Any]]:
    """Log what the range really holds (the daily curve makes nights quiet); return the truth."""
    store = simulator.app.store
    truth = store.final(
        plan.traffic_start, plan.traffic_end, grant=simulator.app.grant_of(client_id)
    )
    every = store.final(plan.traffic_start, plan.traffic_end)
    changing = sum(1 for record in truth if record["conversationId"] in store.revisions)
    log(
        f"range {format_instant(plan.traffic_start)}/{format_instant(plan.traffic_end)}: "
        f"{len(truth)} conversations the client may see ({len(every)} in every division), "
        f"{changing} of them change after the fact; CAPTURE_END {format_instant(plan.end)}"
    )
    return truth


def summarize(
    plan: Plan,
    truth: list[dict[str, Any]],
    landed: Landed,
    usage: dict[str, Any],
    supervisor: Supervisor,
    revisions: Mapping[str, tuple[Revision, ...]],
    seconds: float,
) -> dict[str, Any]:
    """The JSON line's content (docs/operations.md, "Capture verification")."""
    comparison = compare(truth, landed.facts, landed.raw_ids)
    requests = int(usage.get("requests", 0))
    in_range = {
        conversation_id
        for conversation_id, fact in landed.facts.items()
        if (start := as_instant(fact.get("conversation_start"))) is not None
        and plan.traffic_start <= start < plan.traffic_end
    }
    details = problem_details(truth, comparison, landed, revisions)
    details["unexpected_facts"] = len(in_range - {r["conversationId"] for r in truth})
    return {
        "truth": comparison.truth,
        "landed": comparison.landed,
        "missing": len(comparison.missing),
        "stale": len(comparison.stale),
        "duplicates": sum(landed.duplicated_raw.values())
        + sum(sum(found.values()) for found in landed.duplicated_keys.values()),
        "requests": requests,
        "budget_peak_per_min": usage.get("peakPerWallMinute", 0),
        "requests_per_1000_conversations": (
            round(requests * 1000 / comparison.truth, 1) if comparison.truth else None
        ),
        "seconds": round(seconds),
        "etl_starts": supervisor.starts,
        "finished": supervisor.finished,
        "nonzero_exits": sum(1 for code in supervisor.exits if code != 0),
        "fact_call": len(landed.facts),
        "statuses": usage.get("statuses", {}),
        "budget_peak_per_virtual_min": usage.get("peakPerVirtualMinute", 0),
        "range": [format_instant(plan.traffic_start), format_instant(plan.traffic_end)],
        "capture_end": format_instant(plan.end),
        "details": details,
    }


def main() -> int:
    """Run the scenario of the module docstring; print the JSON line; 0 when all matched."""
    began = time.monotonic()
    # Ctrl-C (KeyboardInterrupt) and SIGTERM leave through the `finally` blocks below, which
    # kill the ETL's process group and stop both servers.
    signal.signal(signal.SIGTERM, exit_on_signal)
    plan = plan_from_env(os.environ)
    deadline = began + plan.budget_seconds - STOP_GRACE_S - EVALUATE_RESERVE_S
    run_dir = RUN_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    # Our own server, whatever MONGO_URI says: the run must not write into someone's database.
    os.environ.pop("MONGO_URI", None)
    mongo, simulator, target = start_services_with(
        lambda client_id, secret: simulator_config(plan, client_id, secret), run_dir, "verify"
    )
    probe = Probe(mongo.uri, target.raw_database, target.checkpoints)
    # VERIFY_ETL_SOURCE: run the ETL from another tree (a `git archive` of a commit), as
    # CHAOS_ETL_SOURCE does, while the checkout is being edited.
    source = Path(os.environ.get("VERIFY_ETL_SOURCE", "") or ROOT).resolve()
    env = etl_env(plan, target, os.environ)
    supervisor = Supervisor(env, run_dir, probe, source=source, progress=log)
    try:
        try:
            log(f"run folder {run_dir}; clock {format_instant(plan.clock_start)} x{plan.speed}")
            truth = announce(simulator, target.client_id, plan)
            if capture_traffic(supervisor, simulator, plan, deadline):
                catch_up(supervisor, simulator, plan, deadline)
            if not supervisor.finished:
                log("budget spent before the run finished: stopping the ETL")
        finally:
            supervisor.stop(grace_s=STOP_GRACE_S)
            probe.close()
        usage = client_usage(target.api_url, target.client_id)
        revisions = simulator.app.store.revisions
        landed = read_landed(mongo.uri, target.raw_database, target.dwh_database)
    finally:
        simulator.stop()
        mongo.stop()
    summary = summarize(plan, truth, landed, usage, supervisor, revisions, time.monotonic() - began)
    summary["details"]["etl_settings"] = {
        name: env[name]
        for name in sorted(env)
        if name.startswith("CAPTURE_") or name == "GENESYS_REQUESTS_PER_MINUTE"
    }
    print(json.dumps(summary), flush=True)
    clean = summary["missing"] == 0 and summary["stale"] == 0 and summary["duplicates"] == 0
    return 0 if clean and supervisor.finished else 1


if __name__ == "__main__":
    sys.exit(main())
