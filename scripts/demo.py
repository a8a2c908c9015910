"""The embedded demo: a MongoDB-wire server, the Genesys simulator and the ETL, on loopback.

Run by `make demo`. It starts (or borrows, with MONGO_URI) a MongoDB-wire server, serves a
simulated contact center (or recorded payloads, with GENESYS_SIM_FIXTURES), runs both streaming
queries as a bounded run over the demo range, then prints what landed and checks it against the
simulator's ground truth. Exit code 0 only when every expected conversation landed once.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import parse_instant  # noqa: E402
from connectors.genesys.windows import format_instant  # noqa: E402
from scripts.demo_report import print_report  # noqa: E402
from scripts.localmongo import mask_uri, start_local_mongo  # noqa: E402
from simulator.server import SimulatorConfig, start_simulator  # noqa: E402

RUN_DIR = ROOT / ".run" / "demo"
# Settings a user's shell may carry that would point a local ETL run at another API or database
# than the ones the run starts itself; dropped from the ETL's environment.
INHERITED_TARGETS = (
    "GENESYS_CLIENT_SECRET",
    "GENESYS_REGION",
    "GENESYS_LOGIN_BASE_URL",
    "MONGO_RAW_URI",
    "MONGO_DWH_URI",
    "MONGO_URI_FILE",
    "MONGO_RAW_URI_FILE",
    "MONGO_DWH_URI_FILE",
)
# Extra generated traffic around the captured range, so it starts and ends in a busy center.
MARGIN = timedelta(minutes=10)
HISTORY = timedelta(minutes=20)


@dataclass(frozen=True)
class DemoPlan:
    """The range to capture and how the simulator's clock moves through it."""

    start: datetime
    end: datetime
    clock_start: datetime
    speed: float
    fixtures: Path | None


def _env_instant(name: str) -> datetime | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        sys.exit(f"demo: {name}={value!r} is not an ISO-8601 instant like 2021-04-01T12:00:00Z")


def plan_demo() -> DemoPlan:
    """Read DEMO_* and GENESYS_SIM_FIXTURES and decide the range and the clock."""
    seconds = float(os.environ.get("DEMO_SECONDS", "60"))
    speed = float(os.environ.get("DEMO_SPEED", "10"))
    start, end = _env_instant("DEMO_START"), _env_instant("DEMO_END")
    fixtures_dir = os.environ.get("GENESYS_SIM_FIXTURES", "").strip()
    if fixtures_dir:
        if start is None or end is None:
            sys.exit("demo: GENESYS_SIM_FIXTURES needs DEMO_START and DEMO_END (ISO, UTC)")
        # Recorded payloads are all in the past: the clock is simply now.
        now = datetime.now(UTC).replace(microsecond=0)
        return DemoPlan(start, end, now, 1.0, Path(fixtures_dir).resolve())
    if end is None:
        end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(
            seconds=seconds * speed
        )
    if start is None:
        start = end - timedelta(seconds=seconds * speed) - HISTORY
    if end <= start:
        sys.exit(f"demo: DEMO_END {end} must be after DEMO_START {start}")
    # The clock reaches the end of the range after DEMO_SECONDS of streaming.
    clock_start = max(start, end - timedelta(seconds=seconds * speed))
    return DemoPlan(start, end, clock_start, speed, None)


def simulator_config(plan: DemoPlan, client_id: str, client_secret: str) -> SimulatorConfig:
    """The simulator for the plan: generated traffic around the range, or the fixtures."""
    history = (plan.clock_start - (plan.start - MARGIN)).total_seconds() / 60
    duration = ((plan.end + MARGIN) - plan.clock_start).total_seconds() / 60
    return SimulatorConfig(
        client_id=client_id,
        client_secret=client_secret,
        # The generator numbers conversations from its seed, so two demos over different
        # ranges with one seed would reuse conversation ids in the same database; the range
        # joins the seed (the same range still gives the same data).
        seed=int(os.environ.get("DEMO_SEED", "7")) * 1_000_003 + int(plan.start.timestamp()) // 60,
        start=plan.clock_start,
        speed=plan.speed,
        agents=int(os.environ.get("DEMO_AGENTS", "50")),
        conversations_per_hour=float(os.environ.get("DEMO_CONVERSATIONS_PER_HOUR", "600")),
        history_minutes=history,
        duration_minutes=duration,
        fixtures_dir=plan.fixtures,
        # The demo shares nothing with other clients; Genesys' per-token limit is 300/min.
        rate_limit_per_minute=300,
    )


def app_environment(
    plan: DemoPlan, api_url: str, client_id: str, secret_file: Path, mongo_uri: str
) -> tuple[dict[str, str], int]:
    """The ETL process's environment (secrets by file, nothing on argv) and its overlap."""
    # One curate checkpoint per database, kept between demos, so a demo curates only what it
    # lands itself instead of replaying every earlier demo's raw data; the capture checkpoint
    # is new each time, so the demo's range is always captured again.
    database_key = hashlib.sha256(mongo_uri.encode("utf-8")).hexdigest()[:12]
    checkpoints = RUN_DIR / "checkpoints" / database_key
    shutil.rmtree(checkpoints / "capture", ignore_errors=True)
    trigger = int(os.environ.get("DEMO_TRIGGER_SECONDS", "10"))
    # A 60 s overlap on the API's clock, whatever the simulator's speed.
    lookback = trigger + 60
    env = dict(os.environ)
    env.update(
        {
            "GENESYS_API_BASE_URL": api_url,
            "GENESYS_CLIENT_ID": client_id,
            "GENESYS_CLIENT_SECRET_FILE": str(secret_file),
            "MONGO_URI": mongo_uri,
            "CAPTURE_START": format_instant(plan.start),
            "CAPTURE_END": format_instant(plan.end),
            "CAPTURE_TRIGGER_SECONDS": str(trigger),
            "CAPTURE_LOOKBACK_SECONDS": str(lookback),
            "CURATE_TRIGGER_SECONDS": "5",
            "GENESYS_ETL_CHECKPOINTS": str(checkpoints),
            "SPARK_MASTER": env.get("SPARK_MASTER", "local[2]"),
            "SPARK_SHUFFLE_PARTITIONS": env.get("SPARK_SHUFFLE_PARTITIONS", "2"),
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        }
    )
    for name in INHERITED_TARGETS:
        env.pop(name, None)
    return env, lookback - trigger


def main() -> int:
    """Run the demo; see the module docstring."""
    plan = plan_demo()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    client_id = f"demo-{secrets.token_hex(4)}"
    client_secret = secrets.token_urlsafe(24)
    secret_file = RUN_DIR / "client-secret"
    secret_file.write_text(client_secret, encoding="utf-8")
    secret_file.chmod(0o600)

    mongo = start_local_mongo(ROOT / ".run" / "mongo")
    simulator = None
    try:
        simulator = start_simulator(simulator_config(plan, client_id, client_secret))
        print(f"demo: MongoDB-wire server ({mongo.kind}) at {mask_uri(mongo.uri)}", flush=True)
        print(
            f"demo: simulator at {simulator.base_url}, {len(simulator.app.store)} conversations, "
            f"clock {format_instant(simulator.clock.now())} x{plan.speed}",
            flush=True,
        )
        print(
            f"demo: capturing {format_instant(plan.start)} .. {format_instant(plan.end)}",
            flush=True,
        )
        env, overlap = app_environment(plan, simulator.base_url, client_id, secret_file, mongo.uri)
        began = time.monotonic()
        code = subprocess.call([sys.executable, "-m", "app.main", "run"], cwd=ROOT, env=env)
        print(f"demo: ETL exited with {code} after {time.monotonic() - began:.0f}s", flush=True)
        if code != 0:
            return code
        truth = simulator.app.store.final()
        return print_report(
            mongo.uri,
            truth,
            plan.start - timedelta(seconds=overlap),
            plan.end,
            every_collection=plan.fixtures is None,
        )
    finally:
        if simulator is not None:
            simulator.stop()
        mongo.stop()


if __name__ == "__main__":
    sys.exit(main())
