"""Command line: ``python -m simulator`` serves a simulated Genesys Cloud on loopback."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from simulator.server import SimulatorConfig, start_simulator
from simulator.timefmt import parse_ts

logger = logging.getLogger("simulator")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Genesys Cloud Platform API simulator. Client id/secret come from the "
        "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET environment variables.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--allow-non-loopback", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=parse_ts, default=None, help="virtual clock start, ISO")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--conversations-per-hour", type=float, default=600.0)
    parser.add_argument("--history-minutes", type=float, default=30.0)
    parser.add_argument("--duration-minutes", type=float, default=60.0)
    parser.add_argument("--fixtures", type=Path, default=None, help="serve recorded payloads")
    parser.add_argument("--rate-limit-per-minute", type=int, default=300)
    parser.add_argument("--token-ttl", type=float, default=86400.0, help="seconds")
    parser.add_argument("--latency-seconds", type=float, default=0.0)
    parser.add_argument("--ready-file", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGTERM/SIGINT; return the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    client_id = os.environ.get("GENESYS_CLIENT_ID", "")
    client_secret = os.environ.get("GENESYS_CLIENT_SECRET", "")
    if not client_id or not client_secret:
        print(
            "error: set GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET (both non-empty) to the "
            "credentials the simulator should accept",
            file=sys.stderr,
        )
        return 2
    config = SimulatorConfig(
        client_id=client_id,
        client_secret=client_secret,
        host=args.host,
        port=args.port,
        allow_non_loopback=args.allow_non_loopback,
        seed=args.seed,
        start=args.start,
        speed=args.speed,
        agents=args.agents,
        conversations_per_hour=args.conversations_per_hour,
        history_minutes=args.history_minutes,
        duration_minutes=args.duration_minutes,
        fixtures_dir=args.fixtures,
        rate_limit_per_minute=args.rate_limit_per_minute,
        token_ttl_seconds=args.token_ttl,
        latency_seconds=args.latency_seconds,
    )
    try:
        running = start_simulator(config)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("received signal %d, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"SIMULATOR_URL={running.base_url}", flush=True)
    if args.ready_file is not None:
        args.ready_file.write_text(running.base_url + "\n", encoding="utf-8")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
