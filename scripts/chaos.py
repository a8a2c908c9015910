"""`make chaos`: crash the ETL over and over and check that nothing is lost or duplicated.

Scenario (see docs/operations.md, "Chaos run"):

- a local MongoDB-wire server and the simulator with a generated center whose clock is frozen
  after the captured range, so that every conversation is final and every poll sees the same
  data (one raw version per conversation);
- the ETL as a subprocess (`python -m app.main run`), a bounded run over the range in short
  capture batches, with its own checkpoints and databases;
- SIGKILLs of the whole ETL process group at chosen points (API calls in flight, raw landing in
  progress, marker written but offset not committed, curating, or a random delay), each followed
  by a restart from the same checkpoints; one MongoDB server restart; one API outage (503 on
  every API call for a minute). A non-zero exit is answered by a restart, as Kubernetes would;
- the run is then allowed to finish (exit 0) and compared with the simulator's ground truth.

Prints one JSON line and exits 0 only when lost, duplicated and quarantined_unexpected are 0.
The helpers here (`EtlProcess`, `etl_environment`, `evaluate`...) are shared with
`tests/integration/test_crash_restart.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pymongo import MongoClient  # noqa: E402
from pymongo.errors import PyMongoError  # noqa: E402

from app.config import parse_instant  # noqa: E402
from connectors.genesys.windows import format_instant  # noqa: E402
from connectors.mongo.raw_store import MARKERS, RAW_ENDPOINTS  # noqa: E402
from scripts.demo import INHERITED_TARGETS  # noqa: E402
from simulator.server import RunningSimulator, SimulatorConfig, start_simulator  # noqa: E402
from simulator.view import matches_interval  # noqa: E402

RUN_DIR = ROOT / ".run" / "chaos"
# The API overlap of every capture window (lookback - trigger), as in production.
OVERLAP_SECONDS = 60
# Generated traffic before the range, so it starts in a busy center.
MARGIN = timedelta(minutes=10)
# The frozen clock stands this long after the range end, so that every conversation of the range
# is over (10 minutes is not enough: generated e-mails last up to ~2 hours).
SETTLE = timedelta(hours=3)
# Time kept after the last kill for the run to finish and be checked.
FINISH_RESERVE_S = 6 * 60
# Business keys of the DWH collections, to count duplicates that `_id` alone would not show.
BUSINESS_KEYS: dict[str, tuple[str, ...]] = {
    "fact_call": ("conversation_id",),
    "fact_call_skill": ("conversation_id", "skill_id"),
    "dim_user": ("user_id",),
    "dim_queue": ("queue_id",),
    "dim_skill": ("skill_id",),
    "dim_wrapup_code": ("wrapup_code_id",),
    "dim_division": ("division_id",),
}


@dataclass(frozen=True)
class Scenario:
    """The captured range and the simulated center behind it."""

    start: datetime
    end: datetime
    agents: int = 50
    conversations_per_hour: float = 600.0
    seed: int = 11
    max_batch_seconds: int = 300

    @property
    def clock(self) -> datetime:
        """The frozen instant of the simulator's clock."""
        return self.end + SETTLE


def simulator_config(scenario: Scenario, client_id: str, client_secret: str) -> SimulatorConfig:
    """A generated center around the range, its clock frozen after the range (speed 0)."""
    history = (scenario.clock - (scenario.start - MARGIN)).total_seconds() / 60
    return SimulatorConfig(
        client_id=client_id,
        client_secret=client_secret,
        seed=scenario.seed,
        start=scenario.clock,
        speed=0.0,
        agents=scenario.agents,
        conversations_per_hour=scenario.conversations_per_hour,
        history_minutes=history,
        duration_minutes=1.0,
        rate_limit_per_minute=300,
    )


class CaptureRange(Protocol):
    """What `etl_environment` needs of a scenario: the bounded range and its batch cap."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...

    @property
    def max_batch_seconds(self) -> int: ...


@dataclass(frozen=True)
class EtlTarget:
    """Where one ETL (and its restarts) reads from and writes to."""

    api_url: str
    client_id: str
    secret_file: Path
    mongo_uri: str
    raw_database: str
    dwh_database: str
    checkpoints: Path


def etl_environment(
    scenario: CaptureRange, target: EtlTarget, trigger_seconds: int = 2
) -> dict[str, str]:
    """The ETL process's environment: a bounded run in short batches, secrets by file only.

    `trigger_seconds` is the real trigger of both the capture poll and the lookback's base; the
    overlap stays `OVERLAP_SECONDS`, as in production.
    """
    env = dict(os.environ)
    for name in INHERITED_TARGETS:
        env.pop(name, None)
    trigger = trigger_seconds
    env.update(
        {
            "GENESYS_API_BASE_URL": target.api_url,
            "GENESYS_CLIENT_ID": target.client_id,
            "GENESYS_CLIENT_SECRET_FILE": str(target.secret_file),
            "MONGO_URI": target.mongo_uri,
            "MONGO_RAW_DATABASE": target.raw_database,
            "MONGO_DWH_DATABASE": target.dwh_database,
            "CAPTURE_START": format_instant(scenario.start),
            "CAPTURE_END": format_instant(scenario.end),
            "CAPTURE_MAX_BATCH_SECONDS": str(scenario.max_batch_seconds),
            "CAPTURE_TRIGGER_SECONDS": str(trigger),
            "CAPTURE_LOOKBACK_SECONDS": str(trigger + OVERLAP_SECONDS),
            "CURATE_TRIGGER_SECONDS": "1",
            "GENESYS_ETL_CHECKPOINTS": str(target.checkpoints),
            "SPARK_MASTER": "local[2]",
            "SPARK_SHUFFLE_PARTITIONS": "2",
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        }
    )
    return env


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (zombies of our own child count until reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EtlProcess:
    """One start of the ETL: `python -m app.main run` in its own session (process group).

    The Spark JVM is a child of the Python driver and Spark's Python workers are children of the
    JVM, all in the driver's group, so a SIGKILL of the group is a crash of the whole pod.
    """

    def __init__(self, env: dict[str, str], log_path: Path, source: Path = ROOT) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.main", "run"],
                cwd=source,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pgid = self.process.pid
        self._queries_started = False

    def queries_started(self) -> bool:
        """Whether this start has logged that both queries run."""
        if not self._queries_started:
            with contextlib.suppress(OSError):
                text = self.log_path.read_text(errors="replace")
                self._queries_started = QUERIES_STARTED in text
        return self._queries_started

    def poll(self) -> int | None:
        """The exit code of the driver, or None while it runs."""
        return self.process.poll()

    def kill(self, timeout_s: float = 60.0) -> None:
        """SIGKILL the whole group and wait until no process of it is left."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.process.wait(timeout=timeout_s)
        self._wait_group_gone(timeout_s)

    def terminate(self) -> None:
        """SIGTERM to the driver only, as Kubernetes signals PID 1."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> int:
        """Wait for the driver's exit code; then make sure the group is gone (no stray JVM)."""
        code = self.process.wait(timeout=timeout_s)
        self._wait_group_gone(30.0)
        return code

    def _wait_group_gone(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while group_alive(self.pgid):
            if time.monotonic() > deadline:
                # A leftover of our own group (the JVM after the driver exited): never leave a
                # second Spark running on a shared machine.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pgid, signal.SIGKILL)
            time.sleep(0.1)


def numbered_files(folder: Path) -> list[int]:
    """Batch ids of a checkpoint's `offsets` or `commits` folder (Spark's numbered files)."""
    try:
        return sorted(int(name) for name in os.listdir(folder) if name.isdigit())
    except FileNotFoundError:
        return []


@dataclass
class CheckpointView:
    """What a query's checkpoint says: the newest planned and the newest committed batch."""

    planned: int
    committed: int
    planned_offset: str

    @property
    def in_flight(self) -> bool:
        """A batch is planned (offset written) but not committed."""
        return self.planned > self.committed


_UNTIL = re.compile(r"until\W+([0-9T:.\-]+Z)")


def checkpoint_view(folder: Path) -> CheckpointView:
    """Read a query checkpoint's offsets and commits (cheap: file names and one small file)."""
    offsets = numbered_files(folder / "offsets")
    commits = numbered_files(folder / "commits")
    planned = offsets[-1] if offsets else -1
    text = ""
    if offsets:
        try:
            text = (folder / "offsets" / str(planned)).read_text(errors="replace")
        except OSError:
            text = ""
    found = _UNTIL.search(text)
    return CheckpointView(planned, commits[-1] if commits else -1, found.group(1) if found else "")


class Probe:
    """Watches the raw layer and the checkpoints to tell what the ETL is doing right now."""

    def __init__(self, mongo_uri: str, raw_database: str, checkpoints: Path) -> None:
        self.client: MongoClient[dict[str, Any]] = MongoClient(
            mongo_uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500, socketTimeoutMS=2000
        )
        self.raw = self.client[raw_database]
        self.checkpoints = checkpoints

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def markers(self) -> int:
        """How many raw batches are complete (-1 when the server does not answer)."""
        try:
            return self.raw[MARKERS].count_documents({})
        except PyMongoError:
            return -1

    def newest_landed_seq(self) -> int:
        """The newest landing sequence written on a raw conversation (0 before any)."""
        try:
            newest = self.raw["conversations"].find_one(
                {}, {"landed_seq": 1}, sort=[("landed_seq", -1)]
            )
        except PyMongoError:
            return 0
        return int((newest or {}).get("landed_seq", 0))

    def capture_done(self, end_key: str) -> bool:
        """The capture checkpoint has committed the end of the range: no capture work is left."""
        view = checkpoint_view(self.checkpoints / "capture")
        return not view.in_flight and view.planned_offset == end_key

    def landing_in_progress(self) -> bool:
        """Raw documents carry a landing sequence newer than every completion marker."""
        try:
            marker = self.raw[MARKERS].find_one({}, {"land_seq": 1}, sort=[("land_seq", -1)])
            newest = self.raw["conversations"].find_one(
                {}, {"landed_seq": 1}, sort=[("landed_seq", -1)]
            )
        except PyMongoError:
            return False
        if newest is None:
            return False
        return int(newest["landed_seq"]) > int((marker or {}).get("land_seq", 0))

    def marked_uncommitted(self, capture: CheckpointView) -> bool:
        """The in-flight capture batch already has its marker: only the offset commit is left."""
        if not capture.in_flight or not capture.planned_offset:
            return False
        try:
            return self.raw[MARKERS].find_one({"_id": capture.planned_offset}) is not None
        except PyMongoError:
            return False

    def phase(self) -> str:
        """A label of what was going on, e.g. `landing+curating`; `idle` between batches."""
        capture = checkpoint_view(self.checkpoints / "capture")
        curate = checkpoint_view(self.checkpoints / "curate")
        labels = []
        if capture.in_flight:
            if self.marked_uncommitted(capture):
                labels.append("marked")
            elif self.landing_in_progress():
                labels.append("landing")
            else:
                labels.append("capturing")
        if curate.in_flight:
            labels.append("curating")
        return "+".join(labels) or "idle"


# A kill strategy waits for its moment (True) or gives up at the deadline (False).
Strategy = Callable[[Probe, random.Random], Callable[[], bool]]


def _when_landing(probe: Probe, _rng: random.Random) -> Callable[[], bool]:
    # A landing killed earlier leaves documents newer than every marker: wait for a new one.
    before = probe.newest_landed_seq()
    return lambda: probe.newest_landed_seq() > before and probe.landing_in_progress()


def _when_marked(probe: Probe, _rng: random.Random) -> Callable[[], bool]:
    before = probe.markers()

    def ready() -> bool:
        nonlocal before
        now = probe.markers()
        if before < 0:
            before = now
            return False
        return now > before

    return ready


def _when_curating(probe: Probe, rng: random.Random) -> Callable[[], bool]:
    # Some way into the batch, not always at its first instant.
    delay = rng.uniform(0.0, 4.0)
    seen: list[float] = []

    def ready() -> bool:
        if not checkpoint_view(probe.checkpoints / "curate").in_flight:
            seen.clear()
            return False
        if not seen:
            seen.append(time.monotonic())
        return time.monotonic() - seen[0] >= delay

    return ready


def _when_capturing(probe: Probe, _rng: random.Random) -> Callable[[], bool]:
    def ready() -> bool:
        capture = checkpoint_view(probe.checkpoints / "capture")
        return capture.in_flight and not probe.landing_in_progress()

    return ready


def _after_random_delay(_probe: Probe, rng: random.Random) -> Callable[[], bool]:
    deadline = time.monotonic() + rng.uniform(12.0, 40.0)
    return lambda: time.monotonic() >= deadline


# Strategies that read "a batch is in flight" from the checkpoint wait for this line of the
# ETL's log (app/main.py), so they hit a running batch rather than the start-up.
QUERIES_STARTED = "queries started: capture"
FROM_CHECKPOINT = ("curating", "capturing")

STRATEGIES: dict[str, Strategy] = {
    "landing": _when_landing,
    "marked": _when_marked,
    "curating": _when_curating,
    "capturing": _when_capturing,
    "random": _after_random_delay,
}


@dataclass
class Supervisor:
    """Starts the ETL, restarts it after any exit but 0 (like Kubernetes), kills it on demand."""

    env: dict[str, str]
    run_dir: Path
    probe: Probe
    starts: int = 0
    current: EtlProcess | None = None
    exits: list[int] = field(default_factory=list)
    kill_points: list[str] = field(default_factory=list)
    finished: bool = False
    source: Path = ROOT
    # Where starts and exits are reported (None: this module's `log`); `make verify-capture`
    # passes its own, so that its progress lines carry its name.
    progress: Callable[[str], None] | None = None

    def _say(self, message: str) -> None:
        (self.progress or log)(message)

    def ensure_running(self) -> None:
        """Start the ETL unless it runs; record the exit code of the previous start."""
        if self.current is not None:
            code = self.current.poll()
            if code is None:
                return
            self.current.wait(30.0)
            self.exits.append(code)
            self.current = None
            if code == 0:
                self.finished = True
                return
            self._say(f"ETL exited with {code}: restarting")
        if self.finished:
            return
        self.starts += 1
        log_path = self.run_dir / f"etl-{self.starts:02d}.log"
        self.current = EtlProcess(self.env, log_path, self.source)
        self._say(f"ETL start {self.starts} (pid {self.current.pgid})")

    def supervise(self, seconds: float) -> None:
        """Keep the ETL running for `seconds`, restarting it whenever it exits non-zero."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.finished:
            self.ensure_running()
            time.sleep(0.5)

    def kill_when(
        self, name: str, rng: random.Random, end_key: str, timeout_s: float = 120.0
    ) -> bool:
        """Wait for the strategy's moment (restarting after exits), then SIGKILL the group.

        Capture strategies become `curating` once the whole range is captured, since no capture
        batch will come again. Returns False when the run finished first (nothing to kill).
        """
        self.ensure_running()
        if self.finished:
            return False
        if name in ("landing", "capturing", "marked") and self.probe.capture_done(end_key):
            name = "curating"
        ready = STRATEGIES[name](self.probe, rng)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.ensure_running()
            if self.finished:
                return False
            if ready() and (name not in FROM_CHECKPOINT or self._past_startup()):
                break
            time.sleep(0.05)
        assert self.current is not None
        phase = self.probe.phase()
        self.current.kill()
        self.current = None
        self.kill_points.append(f"{name}:{phase}")
        self._say(f"SIGKILL {len(self.kill_points)} ({name}), ETL was {phase}")
        return True

    def _past_startup(self) -> bool:
        # A batch left in flight by the previous kill shows in the checkpoint at once, before
        # the new JVM even runs: such a kill would hit the start-up, not the batch. The ETL
        # logs when both queries run; on a loaded machine that takes from 10 s to a minute.
        return self.current is not None and self.current.queries_started()

    def finish(self, timeout_s: float) -> bool:
        """Let the run end with exit 0, restarting after failures; False at the deadline."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.ensure_running()
            if self.finished:
                return True
            time.sleep(0.5)
        return False

    def stop(self, grace_s: float = 0.0) -> None:
        """Kill whatever still runs (a failed or interrupted run).

        With `grace_s`, SIGTERM first and a SIGKILL of the group only if the driver has not
        exited within that many seconds (running batches may finish).
        """
        if self.current is not None and self.current.poll() is None:
            if grace_s > 0:
                self.current.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.exits.append(self.current.wait(grace_s))
                    self.current = None
                    return
            self.current.kill()
        self.current = None


def set_api_outage(api_url: str, on: bool) -> None:
    """Answer every API call with 503 (on) or clear every fault rule (off), via the simulator's
    control endpoint; the login host stays up, as in a Genesys API incident."""
    if on:
        rule = {"path_prefix": "/api/v2", "status": 503, "times": 100_000}
        request = urllib.request.Request(
            f"{api_url}/simulator/faults",
            data=json.dumps(rule).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
    else:
        request = urllib.request.Request(f"{api_url}/simulator/faults", method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def expected_conversations(
    truth: list[dict[str, Any]], start: datetime, end: datetime
) -> dict[str, dict[str, Any]]:
    """The final records the details queries of [start - overlap, end) return, by id."""
    query_start = start - timedelta(seconds=OVERLAP_SECONDS)
    return {
        record["conversationId"]: record
        for record in truth
        if matches_interval(record, query_start, end)
    }


def as_instant(value: Any) -> datetime | None:
    """A UTC instant from a MongoDB date (naive means UTC) or ISO text; None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_instant(str(value))


def fact_problem(fact: dict[str, Any] | None, record: dict[str, Any], raw_ids: list[str]) -> str:
    """Why a fact does not match its conversation's final record ("" when it does).

    The reference: the fact is final, has the record's start and end, and was built from the
    one raw version of the conversation.
    """
    if fact is None:
        return "no fact_call"
    if fact.get("is_final") is not True:
        return "not final"
    if as_instant(fact.get("conversation_start")) != as_instant(record["conversationStart"]):
        return "conversation_start differs"
    if as_instant(fact.get("conversation_end")) != as_instant(record.get("conversationEnd")):
        return "conversation_end differs"
    if fact.get("etl_raw_version") not in raw_ids:
        return "built from an unknown raw version"
    return ""


def evaluate(
    mongo_uri: str,
    raw_database: str,
    dwh_database: str,
    expected: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Compare the DWH and the raw layer with the expected conversations; see `main`."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        raw, dwh = client[raw_database], client[dwh_database]
        versions: dict[str, Counter[str]] = {}
        raw_ids: dict[str, list[str]] = {}
        for endpoint in RAW_ENDPOINTS:
            counts: Counter[str] = Counter()
            for doc in raw[endpoint].find({}, {"entity_id": 1}):
                counts[doc["entity_id"]] += 1
                if endpoint == "conversations":
                    raw_ids.setdefault(doc["entity_id"], []).append(doc["_id"])
            versions[endpoint] = counts
        facts = {doc["conversation_id"]: doc for doc in dwh.fact_call.find({})}
        problems: Counter[str] = Counter()
        examples: list[str] = []
        for conversation_id, record in sorted(expected.items()):
            problem = fact_problem(
                facts.get(conversation_id), record, raw_ids.get(conversation_id, [])
            )
            if problem:
                problems[problem] += 1
                if len(examples) < 3:
                    examples.append(f"{conversation_id}: {problem}")
        duplicated_raw = sum(n - 1 for c in versions.values() for n in c.values() if n > 1)
        duplicated_keys = 0
        for collection, key in BUSINESS_KEYS.items():
            keys: Counter[tuple[Any, ...]] = Counter(
                tuple(doc.get(k) for k in key)
                for doc in dwh[collection].find({}, dict.fromkeys(key, 1))
            )
            duplicated_keys += sum(n - 1 for n in keys.values() if n > 1)
        return {
            "expected": len(expected),
            "fact_call": len(facts),
            "unexpected_facts": len(set(facts) - set(expected)),
            "lost": sum(problems.values()),
            "lost_reasons": dict(problems),
            "lost_examples": examples,
            "duplicated": duplicated_raw + duplicated_keys,
            "duplicated_raw_versions": duplicated_raw,
            "duplicated_business_keys": duplicated_keys,
            "quarantined_unexpected": dwh.quarantine.count_documents({}),
        }
    finally:
        client.close()


def count_markers(mongo_uri: str, raw_database: str) -> int:
    """How many raw batches have a completion marker."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        return client[raw_database][MARKERS].count_documents({})
    finally:
        client.close()


def exit_on_signal(signum: int, _frame: object) -> None:
    """Signal handler: leave through `SystemExit`, so every `finally` stops what it started."""
    raise SystemExit(128 + signum)


def log(message: str) -> None:
    """Progress on stderr; stdout carries only the JSON line."""
    print(f"chaos: {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def start_services(scenario: Scenario, run_dir: Path) -> tuple[Any, RunningSimulator, EtlTarget]:
    """A fresh MongoDB-wire server in `run_dir`, the frozen simulator, and the ETL's target."""
    return start_services_with(
        lambda client_id, secret: simulator_config(scenario, client_id, secret), run_dir, "chaos"
    )


def start_services_with(
    make_config: Callable[[str, str], SimulatorConfig], run_dir: Path, name: str
) -> tuple[Any, RunningSimulator, EtlTarget]:
    """A fresh MongoDB-wire server in `run_dir`, the simulator `make_config(client id, secret)`
    describes, and the ETL's target; client id and databases are named after `name`."""
    from scripts.localmongo import start_local_mongo

    client_id = f"{name}-{secrets.token_hex(4)}"
    client_secret = secrets.token_urlsafe(24)
    secret_file = run_dir / "client-secret"
    secret_file.write_text(client_secret, encoding="utf-8")
    secret_file.chmod(0o600)
    mongo = start_local_mongo(run_dir / "mongo")
    try:
        simulator = start_simulator(make_config(client_id, client_secret))
    except Exception:
        mongo.stop()
        raise
    suffix = secrets.token_hex(4)
    target = EtlTarget(
        api_url=simulator.base_url,
        client_id=client_id,
        secret_file=secret_file,
        mongo_uri=mongo.uri,
        raw_database=f"{name}_raw_{suffix}",
        dwh_database=f"{name}_dwh_{suffix}",
        checkpoints=run_dir / "checkpoints",
    )
    return mongo, simulator, target


def main() -> int:
    """Run the scenario of the module docstring; print the JSON line; 0 when nothing was lost."""
    from scripts.localmongo import restart_local_mongo

    began = time.monotonic()
    # Every kill must leave the run time to finish inside the 20 minutes the issue allows.
    budget_s = float(os.environ.get("CHAOS_BUDGET_SECONDS", str(19 * 60)))
    kills_until = began + budget_s - FINISH_RESERVE_S
    # `make chaos` interrupted (Ctrl-C, or a CI timeout's SIGTERM) still kills the ETL group
    # and the servers it started, through the `finally` blocks below.
    signal.signal(signal.SIGTERM, exit_on_signal)
    seed = int(os.environ.get("CHAOS_SEED", "4"))
    kills_wanted = int(os.environ.get("CHAOS_KILLS", "12"))
    outage_seconds = float(os.environ.get("CHAOS_OUTAGE_SECONDS", "60"))
    rng = random.Random(seed)
    start = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    minutes = int(os.environ.get("CHAOS_MINUTES", "60"))
    scenario = Scenario(start=start, end=start + timedelta(minutes=minutes))
    run_dir = RUN_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    # Our own server, whatever MONGO_URI says: the scenario restarts it.
    os.environ.pop("MONGO_URI", None)
    mongo, simulator, target = start_services(scenario, run_dir)
    log(f"run folder {run_dir}; simulator {len(simulator.app.store)} conversations, frozen")
    probe = Probe(mongo.uri, target.raw_database, target.checkpoints)
    # CHAOS_ETL_SOURCE: run the ETL from another tree (say a `git archive` of a commit), to
    # test a version while the checkout is being edited.
    source = Path(os.environ.get("CHAOS_ETL_SOURCE", "") or ROOT).resolve()
    supervisor = Supervisor(etl_environment(scenario, target), run_dir, probe, source=source)
    # Kills before the MongoDB restart, between it and the outage, and after the outage.
    names = list(STRATEGIES)
    plan = [names[i % len(names)] for i in range(kills_wanted)]
    rng.shuffle(plan)
    first, second = kills_wanted // 3, 2 * kills_wanted // 3
    mongo_restarts = api_outages = 0
    finished = False
    try:
        for index, name in enumerate(plan):
            if index == first:
                supervisor.ensure_running()
                supervisor.supervise(rng.uniform(20.0, 35.0))
                log("restarting the MongoDB-wire server (5 s down)")
                mongo = restart_local_mongo(mongo, run_dir / "mongo", down_s=5.0)
                mongo_restarts += 1
            if index == second:
                supervisor.ensure_running()
                supervisor.supervise(rng.uniform(20.0, 30.0))
                log(f"API outage: 503 on every API call for {outage_seconds:.0f}s")
                set_api_outage(target.api_url, on=True)
                try:
                    supervisor.supervise(outage_seconds)
                finally:
                    set_api_outage(target.api_url, on=False)
                api_outages += 1
                log("API back")
            remaining = kills_until - time.monotonic()
            if remaining <= 0:
                log("no time left for more kills: letting the run finish")
                break
            if not supervisor.kill_when(
                name, rng, format_instant(scenario.end), timeout_s=min(120.0, remaining)
            ):
                log("the run finished before every planned kill")
                break
        finished = supervisor.finish(timeout_s=max(60.0, budget_s - (time.monotonic() - began)))
    finally:
        supervisor.stop()
        probe.close()
        simulator_truth = simulator.app.store.final()
        simulator.stop()
    try:
        expected = expected_conversations(simulator_truth, scenario.start, scenario.end)
        result = evaluate(mongo.uri, target.raw_database, target.dwh_database, expected)
        result["capture_batches"] = count_markers(mongo.uri, target.raw_database)
    finally:
        mongo.stop()
    summary = {
        "kills": len(supervisor.kill_points),
        "mongo_restarts": mongo_restarts,
        "api_outages": api_outages,
        "lost": result["lost"],
        "duplicated": result["duplicated"],
        "quarantined_unexpected": result["quarantined_unexpected"],
        "seconds": round(time.monotonic() - began),
        "finished": finished,
        "expected": result["expected"],
        "fact_call": result["fact_call"],
        "etl_starts": supervisor.starts,
        "capture_batches": result["capture_batches"],
        "nonzero_exits": sum(1 for code in supervisor.exits if code != 0),
        "kill_points": supervisor.kill_points,
        "details": {
            k: result[k]
            for k in (
                "unexpected_facts",
                "lost_reasons",
                "lost_examples",
                "duplicated_raw_versions",
                "duplicated_business_keys",
            )
        },
    }
    print(json.dumps(summary), flush=True)
    clean = summary["lost"] == 0 and summary["duplicated"] == 0
    ok = finished and clean and summary["quarantined_unexpected"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
