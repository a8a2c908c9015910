"""Launch a `bench.child` process with the application's settings in its environment, sample
its memory while it runs, and read back what it measured."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.proctree import TreeSampler
from scripts.demo import INHERITED_TARGETS

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ChildResult:
    """What one Spark child measured, its peak memory and how long it lived."""

    report: dict[str, Any]
    usage: dict[str, Any]
    process_s: float


def run_child(
    scenario: str, settings: dict[str, str], out: Path, log_file: Path, others: dict[str, int]
) -> ChildResult:
    """Run `python -m bench.child <scenario>` with `settings` added to the environment; sample
    its process tree, and the CPU of `others` (name -> pid), while it runs.

    Raises:
        RuntimeError: the child failed; the message names its log file.
    """
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_TARGETS}
    env.update(settings)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    env["PYTHONPATH"] = str(ROOT)
    began = time.monotonic()
    with log_file.open("w", encoding="utf-8") as log_out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.child", scenario, str(out)],
            cwd=ROOT,
            env=env,
            stdout=log_out,
            stderr=subprocess.STDOUT,
        )
        with TreeSampler(process.pid, others) as sampler:
            code = process.wait()
    elapsed = time.monotonic() - began
    if code != 0 or not out.exists():
        raise RuntimeError(f"bench child {scenario} exited with {code}; see {log_file}")
    report = json.loads(out.read_text(encoding="utf-8"))
    usage = sampler.as_json()
    log.info("bench child %s done in %.0fs: %s", scenario, elapsed, usage)
    return ChildResult(report, usage, round(elapsed, 1))
