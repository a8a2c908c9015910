"""Unit tests for bench.stats: percentiles with linear interpolation, summaries, ratios."""

from __future__ import annotations

import pytest

from bench.stats import percentile, ratio, summary


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([5.0], 95, 5.0, id="one-value"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2.5, id="median-between-two"),
        pytest.param([10.0, 20.0, 30.0, 40.0, 50.0], 95, 48.0, id="p95-interpolated"),
        pytest.param([3.0, 1.0, 2.0], 0, 1.0, id="p0-is-min-unsorted-input"),
        pytest.param([3.0, 1.0, 2.0], 100, 3.0, id="p100-is-max"),
    ],
)
def test_percentile_linear_between_ranks_matches_expected(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_empty_is_none() -> None:
    assert percentile([], 50) is None


def test_percentile_out_of_range_q_raises() -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)


def test_summary_rounds_count_p50_p95_max_mean() -> None:
    assert summary([1.0, 2.0, 3.0, 4.0], digits=1) == {
        "n": 4, "p50": 2.5, "p95": 3.9, "max": 4.0, "mean": 2.5,
    }  # fmt: skip


def test_summary_empty_has_no_figures() -> None:
    assert summary([]) == {"n": 0, "p50": None, "p95": None, "max": None, "mean": None}


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        pytest.param(10.0, 4.0, 2.5, id="plain"),
        pytest.param(1.0, 0.0, None, id="zero-divisor"),
        pytest.param(None, 2.0, None, id="missing-numerator"),
    ],
)
def test_ratio_missing_or_zero_is_none(
    numerator: float | None, denominator: float, expected: float | None
) -> None:
    assert ratio(numerator, denominator) == expected
