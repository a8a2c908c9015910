"""Percentiles and summaries of measured durations, the same way for every scenario."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) with linear interpolation between closest ranks.

    This is the "linear" method of NumPy (type 7 of Hyndman and Fan), written out so that the
    bench needs no NumPy. None for an empty sequence.
    """
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], digits: int = 2) -> dict[str, float | int | None]:
    """Count, p50, p95, max and mean of `values`, rounded to `digits`."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, digits)

    return {
        "n": len(values),
        "p50": rounded(percentile(values, 50)),
        "p95": rounded(percentile(values, 95)),
        "max": rounded(max(values)) if values else None,
        "mean": rounded(sum(values) / len(values)) if values else None,
    }


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    """numerator / denominator rounded, or None when either is missing or the divisor is 0."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)
