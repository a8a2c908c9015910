"""Command line: ``python -m simulator`` serves a simulated Genesys Cloud on loopback."""

from __future__ import annotations

import argparse
import json
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


# Flags that set a SimulatorConfig field of another name; the others map by their own name.
_FIELD_OF_FLAG = {"fixtures": "fixtures_dir", "token_ttl": "token_ttl_seconds"}


def _parser() -> argparse.ArgumentParser:
    # Flags left out keep the chosen profile's value, so no flag has an argparse default.
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Genesys Cloud Platform API simulator. Client id/secret come from the "
        "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET environment variables.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--profile", choices=("default", "realistic"), default="default")
    parser.add_argument("--host", help="default 127.0.0.1")
    parser.add_argument("--port", type=int, help="default 0 (a free port)")
    parser.add_argument("--allow-non-loopback", action="store_true")
    parser.add_argument("--seed", type=int, help="default 7")
    parser.add_argument("--start", type=parse_ts, help="virtual clock start, ISO")
    parser.add_argument("--speed", type=float, help="virtual seconds per real second")
    parser.add_argument("--agents", type=int, help="default 50")
    parser.add_argument("--conversations-per-hour", type=float, help="default 600")
    parser.add_argument("--history-minutes", type=float, help="default 30")
    parser.add_argument("--duration-minutes", type=float, help="default 60")
    parser.add_argument("--fixtures", type=Path, help="serve recorded payloads")
    parser.add_argument("--rate-limit-per-minute", type=int, help="per token, default 300")
    parser.add_argument("--token-ttl", type=float, help="seconds, default 86400")
    parser.add_argument("--latency-seconds", type=float, help="indexing lag")
    parser.add_argument("--latency-jitter-seconds", type=float)
    parser.add_argument("--late-wrapup-share", type=float)
    parser.add_argument("--late-wrapup-max-seconds", type=float)
    parser.add_argument("--late-wrapup-hours-share", type=float)
    parser.add_argument("--email-reopen-share", type=float)
    parser.add_argument("--total-hits-jitter", type=float)
    parser.add_argument("--query-max-results", type=int)
    parser.add_argument("--org-changes", type=int)
    parser.add_argument(
        "--client-divisions",
        type=lambda text: tuple(name.strip() for name in text.split(",") if name.strip()),
        help="comma-separated division names the client may read",
    )
    parser.add_argument("--faults", type=_fault_file, help="JSON file with a list of fault rules")
    parser.add_argument("--ready-file", type=Path)
    return parser


def _fault_file(text: str) -> tuple[dict[str, object], ...]:
    try:
        rules = json.loads(Path(text).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read fault rules from {text!r}: {exc}") from exc
    return tuple(rules) if isinstance(rules, list) else (rules,)


def _config(args: argparse.Namespace, client_id: str, client_secret: str) -> SimulatorConfig:
    given = {
        _FIELD_OF_FLAG.get(name, name): value
        for name, value in vars(args).items()
        if name not in ("profile", "ready_file")
    }
    if args.profile == "realistic":
        return SimulatorConfig.realistic(client_id, client_secret, **given)
    return SimulatorConfig(client_id, client_secret, **given)


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
    config = _config(args, client_id, client_secret)
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
    ready_file = getattr(args, "ready_file", None)
    if ready_file is not None:
        ready_file.write_text(running.base_url + "\n", encoding="utf-8")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
