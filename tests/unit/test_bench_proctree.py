"""Unit tests for bench.proctree: /proc parsing, process kinds, peaks and CPU per kind."""

from __future__ import annotations

import os

import pytest

from bench.proctree import (
    CLOCK_TICKS,
    ProcessSample,
    TreeUsage,
    parse_pss,
    parse_stat,
    process_kind,
    tree_samples,
)


def test_parse_stat_name_with_spaces_and_parens_reads_parent_and_cpu() -> None:
    fields = ["S", "42"] + ["0"] * 9 + [str(3 * CLOCK_TICKS), str(CLOCK_TICKS)] + ["0"] * 5
    text = "1234 (my (odd) name) " + " ".join(fields)

    assert parse_stat(text) == (42, 4.0)


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        pytest.param(["/usr/lib/jvm/bin/java", "-cp", "x"], "jvm", id="jvm"),
        pytest.param([".venv/bin/python", "-m", "pyspark.daemon"], "python_worker", id="daemon"),
        pytest.param(["python3", "-m", "bench.child", "stream"], "python", id="driver"),
        pytest.param(["/bin/sh", "-c", "x"], "other", id="shell"),
        pytest.param([], "other", id="kernel-thread"),
    ],
)
def test_process_kind_from_argv(argv: list[str], kind: str) -> None:
    assert process_kind(argv) == kind


def test_tree_usage_keeps_peak_total_peak_per_kind_and_last_cpu_per_process() -> None:
    usage = TreeUsage()
    gib = 1024**3
    usage.add([ProcessSample(1, 0, 1.0, 2 * gib, "jvm"), ProcessSample(2, 1, 0.5, gib, "python")])
    usage.add([ProcessSample(1, 0, 3.0, 3 * gib, "jvm")])

    figures = usage.as_json()

    assert {k: figures[k] for k in ("peak_total_gib", "peak_by_kind_gib", "cpu_s_by_kind")} == {
        "peak_total_gib": 3.0,
        "peak_by_kind_gib": {"jvm": 3.0, "python": 1.0},
        "cpu_s_by_kind": {"jvm": 3.0, "python": 0.5},
    }
    assert figures["samples"] == 2


def test_tree_samples_of_this_process_finds_it_as_python() -> None:
    found = tree_samples(os.getpid())

    assert [s.kind for s in found if s.pid == os.getpid()] == ["python"]


def test_parse_pss_reads_the_pss_line_in_bytes() -> None:
    rollup = "55d0-7ffd ---p 00000000 00:00 0  [rollup]\nRss:  2048 kB\nPss:  1536 kB\n"

    assert parse_pss(rollup) == 1536 * 1024
    assert parse_pss("Rss:  2048 kB\n") is None


def test_tree_usage_peak_pss_counts_shared_pages_once_and_falls_back_to_rss() -> None:
    usage = TreeUsage()
    gib = 1024**3
    # Two forked workers of 1 GiB resident, half of it shared: 1.5 GiB proportional in all;
    # a process without a readable smaps_rollup counts its resident set.
    usage.add(
        [
            ProcessSample(1, 0, 1.0, gib, "python_worker", pss_bytes=3 * gib // 4),
            ProcessSample(2, 1, 1.0, gib, "python_worker", pss_bytes=3 * gib // 4),
            ProcessSample(3, 1, 1.0, gib // 2, "python"),
        ]
    )

    figures = usage.as_json()

    assert (figures["peak_total_gib"], figures["peak_total_pss_gib"]) == (2.5, 2.0)
