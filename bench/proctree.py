"""Memory and CPU of a process tree: the driver JVM, the Python driver and Python workers.

A sampler thread reads `/proc` every half second. Memory: the sum of the resident sets of the
root and all its descendants, peak per sample and peak per kind of process; beside it the sum of
the proportional sets (PSS), which counts a page shared by forked Python workers once instead
of once per process. CPU: user + system
seconds per kind, the last value seen of each process (workers that exit keep their share),
plus single processes outside the tree (the MongoDB-wire server, the bench itself with the
simulator in it). Linux only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GIB = 1024**3


@dataclass(frozen=True)
class ProcessSample:
    """One process at one instant."""

    pid: int
    parent: int
    cpu_s: float
    rss_bytes: int
    kind: str
    # Proportional set size; None when /proc/<pid>/smaps_rollup is unreadable (old kernels).
    pss_bytes: int | None = None


def parse_stat(stat_text: str) -> tuple[int, float]:
    """(parent pid, user + system CPU seconds) from the text of `/proc/<pid>/stat`.

    The command name (field 2) is in parentheses and may hold spaces or parentheses itself,
    so the fields are counted from the last `)`: state, ppid, ... utime is field 14, stime 15.
    """
    fields = stat_text[stat_text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_kind(command_line: list[str]) -> str:
    """`jvm`, `python_worker`, `python` or `other`, from a process's argv."""
    if not command_line:
        return "other"
    program = os.path.basename(command_line[0])
    if program == "java":
        return "jvm"
    if program.startswith("python"):
        # Spark starts its workers as `python -m pyspark.daemon` (forked per task) and runs
        # Python data source planning as `python -m pyspark.sql.worker...`.
        worker = any(arg.startswith("pyspark.") for arg in command_line[1:3])
        return "python_worker" if worker else "python"
    return "other"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # the process ended between listing and reading
        return None


def parse_pss(smaps_rollup_text: str) -> int | None:
    """The `Pss:` line of `/proc/<pid>/smaps_rollup`, in bytes, or None when absent."""
    for line in smaps_rollup_text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024  # the kernel writes kB
    return None


def sample_process(pid: int) -> ProcessSample | None:
    """Read one process, or None when it is gone."""
    base = PROC / str(pid)
    stat, statm, cmdline = _read(base / "stat"), _read(base / "statm"), _read(base / "cmdline")
    if stat is None or statm is None or cmdline is None:
        return None
    parent, cpu = parse_stat(stat)
    kind = process_kind([arg for arg in cmdline.split("\0") if arg])
    rollup = _read(base / "smaps_rollup")
    pss = parse_pss(rollup) if rollup else None
    return ProcessSample(pid, parent, cpu, int(statm.split()[1]) * PAGE_BYTES, kind, pss)


def tree_samples(root: int) -> list[ProcessSample]:
    """`root` and every descendant, read now."""
    samples = [s for s in map(sample_process, _pids()) if s is not None]
    children: dict[int, list[ProcessSample]] = defaultdict(list)
    for sample in samples:
        children[sample.parent].append(sample)
    found = [s for s in samples if s.pid == root]
    pending = list(found)
    while pending:
        for child in children.get(pending.pop().pid, []):
            found.append(child)
            pending.append(child)
    return found


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


@dataclass
class TreeUsage:
    """Peaks of memory and CPU seconds seen so far."""

    peak_total_bytes: int = 0
    peak_total_pss_bytes: int = 0
    peak_by_kind_bytes: dict[str, int] = field(default_factory=dict)
    cpu_by_pid: dict[int, tuple[str, float]] = field(default_factory=dict)
    samples: int = 0
    # The machine is shared: the 1-minute load average beside each reading says how much.
    load_total: float = 0.0
    load_max: float = 0.0

    def add(self, tree: list[ProcessSample]) -> None:
        """Fold one reading of the tree into the peaks."""
        self.samples += 1
        load = os.getloadavg()[0]
        self.load_total += load
        self.load_max = max(self.load_max, load)
        by_kind: dict[str, int] = defaultdict(int)
        pss_total = 0
        for process in tree:
            by_kind[process.kind] += process.rss_bytes
            pss_total += process.rss_bytes if process.pss_bytes is None else process.pss_bytes
            self.cpu_by_pid[process.pid] = (process.kind, process.cpu_s)
        self.peak_total_bytes = max(self.peak_total_bytes, sum(by_kind.values()))
        self.peak_total_pss_bytes = max(self.peak_total_pss_bytes, pss_total)
        for kind, size in by_kind.items():
            self.peak_by_kind_bytes[kind] = max(self.peak_by_kind_bytes.get(kind, 0), size)

    def cpu_by_kind(self) -> dict[str, float]:
        """CPU seconds per kind of process, summed over every process seen."""
        totals: dict[str, float] = defaultdict(float)
        for kind, seconds in self.cpu_by_pid.values():
            totals[kind] += seconds
        return {kind: round(seconds, 1) for kind, seconds in totals.items()}

    def as_json(self) -> dict[str, object]:
        """The peaks in GiB (rounded to 0.01) and CPU seconds, for results.json."""
        return {
            "peak_total_gib": round(self.peak_total_bytes / GIB, 2),
            "peak_total_pss_gib": round(self.peak_total_pss_bytes / GIB, 2),
            "peak_by_kind_gib": {k: round(v / GIB, 2) for k, v in self.peak_by_kind_bytes.items()},
            "cpu_s_by_kind": self.cpu_by_kind(),
            "samples": self.samples,
            "load_1min_mean": round(self.load_total / self.samples, 2) if self.samples else None,
            "load_1min_max": round(self.load_max, 2),
        }


class TreeSampler:
    """Samples the tree of `root`, and single `others` by name, until `stop()`.

    The CPU of `others` is counted from the sampler's start, so that a long-lived server
    shows only what this scenario cost it.
    """

    def __init__(self, root: int, others: dict[str, int], interval_s: float = 0.5) -> None:
        self.root = root
        self.others = others
        self.interval_s = interval_s
        self.usage = TreeUsage()
        self._others_first: dict[str, float] = {}
        self._others_last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        """Take one reading now."""
        self.usage.add(tree_samples(self.root))
        for name, pid in self.others.items():
            process = sample_process(pid)
            if process is not None:
                self._others_first.setdefault(name, process.cpu_s)
                self._others_last[name] = process.cpu_s

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def as_json(self) -> dict[str, object]:
        """The tree's figures and the CPU seconds of the other processes."""
        others = {
            name: round(self._others_last[name] - self._others_first[name], 1)
            for name in self._others_last
        }
        return {**self.usage.as_json(), "cpu_s_others": others}
