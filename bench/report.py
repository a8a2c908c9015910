"""The headline figures of a bench run, the machine and versions, and the generated table in
docs/benchmarks.md (between its `bench:figures` markers; the prose around it is written by hand).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
START_MARK, END_MARK = "<!-- bench:figures:start -->", "<!-- bench:figures:end -->"

# key -> (what, target text, met?) ; None figures are reported as not measured.
TARGETS: dict[str, tuple[str, str, Any]] = {
    "window_p95_s": ("capture + curate per 3-minute window, p95 (s)", "<= 12", lambda v: v <= 12),
    "replay_conv_per_s": ("replay, conversations per second (local[2])", "-", None),
    "replay_vs_naive": ("replay / naive per-document Python", ">= 5", lambda v: v >= 5),
    "replay_vs_ceiling": ("replay / pymongo bulk_write ceiling", ">= 0.5", lambda v: v >= 0.5),
    "replay_vs_insert_ceiling": ("replay / pymongo insert_many (not the issue's)", "-", None),
    "freshness_p95_s": ("freshness p95, 2-minute trigger (s)", "<= 150", lambda v: v <= 150),
    "freshness_demo_p95_s": ("freshness p95, demo trigger 10 s (s)", "<= 40", lambda v: v <= 40),
    "api_requests_vs_min": ("API requests / minimum (pages of 100)", "<= 1.2", lambda v: v <= 1.2),
    "api_budget_share": ("share of the 300/min budget", "<= 0.05", lambda v: v <= 0.05),
    "peak_rss_gib": ("peak RSS, driver JVM + Python (GiB)", "<= 3", lambda v: v <= 3),
    "peak_pss_gib": ("the same, shared pages counted once (PSS)", "-", None),
    "scaling_2_vs_1": ("replay local[2] / local[1]", "-", None),
}


def _dig(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's keys (and a few p50s) from the scenario details; None when not measured."""
    windows, replay = results.get("windows", {}), results.get("replay", {})
    default, demo = results.get("freshness_default", {}), results.get("freshness_demo", {})
    peaks = [
        _dig(run, "usage", "peak_total_gib")
        for run in (windows, default, demo, replay.get("local2"), replay.get("local1"))
        if run
    ]
    peaks = [p for p in peaks if p is not None]
    pss_peaks = [
        _dig(run, "usage", "peak_total_pss_gib")
        for run in (windows, default, demo, replay.get("local2"), replay.get("local1"))
        if run
    ]
    pss_peaks = [p for p in pss_peaks if p is not None]
    return {
        "window_p95_s": _dig(windows, "window_summary", "total_s", "p95"),
        "window_p50_s": _dig(windows, "window_summary", "total_s", "p50"),
        "replay_conv_per_s": _dig(replay, "conv_per_s", "spark_local2"),
        "replay_vs_naive": replay.get("replay_vs_naive"),
        "replay_vs_ceiling": replay.get("replay_vs_ceiling"),
        "replay_vs_insert_ceiling": replay.get("replay_vs_insert_ceiling"),
        "freshness_p95_s": _dig(default, "freshness", "freshness_s", "p95"),
        "freshness_p50_s": _dig(default, "freshness", "freshness_s", "p50"),
        "freshness_demo_p95_s": _dig(demo, "freshness", "freshness_s", "p95"),
        "freshness_demo_p50_s": _dig(demo, "freshness", "freshness_s", "p50"),
        "api_requests_vs_min": _dig(windows, "api", "requests_vs_min"),
        "api_budget_share": _dig(windows, "api", "budget_share"),
        "peak_rss_gib": max(peaks) if peaks else None,
        "peak_pss_gib": max(pss_peaks) if pss_peaks else None,
        "scaling_2_vs_1": replay.get("scaling_2_vs_1"),
    }


def targets(figures: dict[str, Any]) -> dict[str, Any]:
    """Each target with its figure and whether it is met (None: not measured or no target)."""
    return {
        key: {
            "what": what,
            "target": target,
            "value": figures.get(key),
            "met": None if check is None or figures.get(key) is None else check(figures[key]),
        }
        for key, (what, target, check) in TARGETS.items()
    }


def _command(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=ROOT)
    except OSError as error:
        return f"unavailable: {error}"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else ""
    )


def machine() -> dict[str, Any]:
    """CPU, cores, memory, kernel and the load average now (the machine is shared)."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024**2, 1),
        "kernel": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def versions(mongo_uri: str, mongo_kind: str) -> dict[str, Any]:
    """Python, PySpark, pymongo, Java, the MongoDB-wire server and the code's commit."""
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=10_000) as client:
        info = client.server_info()
    changed = _command("git", "status", "--porcelain", "--", "app", "connectors", "jobs", "conf")
    return {
        "python": sys.version.split()[0],
        "pyspark": version("pyspark"),
        "pymongo": version("pymongo"),
        "java": _command("java", "-version"),
        "mongo_server": {
            "kind": mongo_kind,
            "version": info.get("version"),
            **{k: v for k, v in info.items() if "ferret" in k.lower()},
        },
        "git_commit": _command("git", "rev-parse", "HEAD"),
        # Others may be editing the product in the same tree; say when the run measured that.
        "product_files_uncommitted": bool(changed),
    }


def _cell(value: Any) -> str:
    return "not measured" if value is None else f"{value}"


def figures_table(results: dict[str, Any]) -> str:
    """The markdown block that replaces the generated part of docs/benchmarks.md."""
    rows = [
        "| figure | key | value | target | met |",
        "|---|---|---|---|---|",
    ]
    for key, item in results["targets"].items():
        met = {True: "yes", False: "**no**", None: "-"}[item["met"]]
        rows.append(
            f"| {item['what']} | `{key}` | {_cell(item['value'])} | {item['target']} | {met} |"
        )
    run = results["run"]
    intro = (
        f"Last run: {run['finished_at']}, `BENCH_SCALE={results['settings']['scale']}`, "
        f"{run['duration_s']:.0f} s, {results['machine']['cores']} cores "
        f"({results['machine']['cpu']}), load average at start "
        f"{results['machine']['load_average']}; Spark {results['versions']['pyspark']}, "
        f"{results['versions']['mongo_server']['kind']} "
        f"{results['versions']['mongo_server']['version']}. Details: `bench/results.json`."
    )
    return "\n".join([START_MARK, intro, "", *rows, END_MARK])


def update_doc(results: dict[str, Any], doc: Path = DOC) -> bool:
    """Replace the generated block of the doc; False when the doc has no markers."""
    if not doc.exists():
        return False
    text = doc.read_text(encoding="utf-8")
    if START_MARK not in text or END_MARK not in text:
        return False
    head, rest = text.split(START_MARK, 1)
    _, tail = rest.split(END_MARK, 1)
    doc.write_text(head + figures_table(results) + tail, encoding="utf-8")
    return True
