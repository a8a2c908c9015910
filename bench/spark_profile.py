"""Where a Spark run spent its time, from the driver's own monitoring REST API (Spark UI).

Run in the bench child just before the session stops. Jobs are grouped by the streaming query
that ran them (Spark describes each micro-batch job as `<query name>\\nid = ...\\nbatch = N`),
and stages by their call site, so that the slowest steps of capture and curate stand out.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from collections import defaultdict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

TOP_STAGES = 10
_BATCH = re.compile(r"batch = (\d+)")


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base}/api/v1/{path}", timeout=60) as answer:
        return json.loads(answer.read())


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    pattern = "%Y-%m-%dT%H:%M:%S.%f%Z"
    return (datetime.strptime(end, pattern) - datetime.strptime(start, pattern)).total_seconds()


def _query_of(job: dict[str, Any]) -> str:
    description = job.get("description") or ""
    first_line = description.split("\n", 1)[0].strip()
    return first_line if _BATCH.search(description) and first_line else "other"


def spark_profile(spark: SparkSession) -> dict[str, Any]:
    """Jobs, stage run and CPU time, GC, and the top stages by run time, per query."""
    url = spark.sparkContext.uiWebUrl
    if not url:
        return {"error": "the Spark UI is disabled"}
    # The UI listens on every interface; ask it on loopback.
    base = f"http://127.0.0.1:{urlsplit(url).port}"
    app_id = spark.sparkContext.applicationId
    try:
        jobs = _get(base, f"applications/{app_id}/jobs")
        stages = {s["stageId"]: s for s in _get(base, f"applications/{app_id}/stages")}
        executors = _get(base, f"applications/{app_id}/executors")
    except OSError as error:
        log.warning("no Spark profile: the monitoring API at %s did not answer: %s", base, error)
        return {"error": str(error)}
    per_query: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"jobs": 0, "batches": set(), "job_wall_s": 0.0, "stage_run_s": 0.0,
                 "stage_cpu_s": 0.0, "gc_s": 0.0, "tasks": 0, "stages": defaultdict(float)}
    )  # fmt: skip
    for job in jobs:
        query = per_query[_query_of(job)]
        query["jobs"] += 1
        batch = _BATCH.search(job.get("description") or "")
        if batch:
            query["batches"].add(int(batch.group(1)))
        query["job_wall_s"] += _seconds(job.get("submissionTime"), job.get("completionTime"))
        for stage_id in job.get("stageIds", []):
            stage = stages.get(stage_id)
            if stage is None or stage.get("status") != "COMPLETE":
                continue
            query["stage_run_s"] += stage["executorRunTime"] / 1000
            query["stage_cpu_s"] += stage["executorCpuTime"] / 1e9
            query["gc_s"] += stage["jvmGcTime"] / 1000
            query["tasks"] += stage["numTasks"]
            query["stages"][stage["name"]] += stage["executorRunTime"] / 1000
    profile: dict[str, Any] = {name: _rounded(figures) for name, figures in per_query.items()}
    profile["driver_memory_peaks_gib"] = _memory_peaks(executors)
    return profile


def _memory_peaks(executors: list[dict[str, Any]]) -> dict[str, float]:
    """The driver's peak heap and off-heap use: what the JVM needed, not what it reserved."""
    driver = next((e for e in executors if e.get("id") == "driver"), {})
    peaks = driver.get("peakMemoryMetrics") or {}
    wanted = ("JVMHeapMemory", "JVMOffHeapMemory", "OnHeapStorageMemory")
    return {name: round(peaks[name] / 1024**3, 2) for name in wanted if name in peaks}


def _rounded(figures: dict[str, Any]) -> dict[str, Any]:
    batches = len(figures["batches"])
    top = sorted(figures["stages"].items(), key=lambda item: -item[1])[:TOP_STAGES]
    return {
        "batches": batches,
        "jobs": figures["jobs"],
        "jobs_per_batch": round(figures["jobs"] / batches, 1) if batches else None,
        "job_wall_s": round(figures["job_wall_s"], 1),
        "stage_run_s": round(figures["stage_run_s"], 1),
        "stage_cpu_s": round(figures["stage_cpu_s"], 1),
        "gc_s": round(figures["gc_s"], 1),
        "tasks": figures["tasks"],
        "top_stages_run_s": {name: round(seconds, 1) for name, seconds in top},
    }
