"""Which sightings of a conversation version already stored the raw layer writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.mongo.raw_store import sighting_matters

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def _version(raw_id: str, first: int, last: int, landed_seq: int = 1) -> dict[str, Any]:
    """A stored version first and last seen `first` and `last` minutes after T0."""
    return {
        "_id": raw_id,
        "first_seen_at": T0 + timedelta(minutes=first),
        "last_seen_at": T0 + timedelta(minutes=last),
        "landed_seq": landed_seq,
    }


def _sighting(minutes: float) -> dict[str, Any]:
    return {"last_seen_at": T0 + timedelta(minutes=minutes)}


@pytest.mark.parametrize(
    ("stored", "others", "seen_after", "completed_seq", "expected"),
    [
        pytest.param(_version("c:a", 0, 2), [], 4, 1, False, id="seen-again-minutes-later"),
        pytest.param(_version("c:a", 0, 2), [_version("c:b", 1, 1)], 4, 1, False,
                     id="older-other-version"),
        pytest.param(_version("c:a", 0, 2), [_version("c:b", 3, 3)], 4, 1, True,
                     id="api-went-back-to-it"),
        pytest.param(_version("c:a", 0, 2), [_version("c:b", 2, 2)], 4, 1, True,
                     id="tie-with-a-version-ranking-after-it"),
        pytest.param(_version("c:a", 0, 2, landed_seq=5), [], 4, 4, True,
                     id="stored-by-an-unfinished-landing"),
        pytest.param(_version("c:a", 0, 2), [], 62, 1, True, id="last-sighting-an-hour-old"),
        pytest.param(_version("c:a", 0, 2), [], 61.9, 1, False, id="just-under-an-hour"),
        pytest.param(_version("c:a", 5, 6), [], 4, 1, True, id="earlier-than-first-seen"),
        pytest.param(_version("c:a", 0, 2), [{"_id": "c:b", "landed_seq": 1}], 4, 1, True,
                     id="a-version-without-sighting-times"),
    ],
)  # fmt: skip
def test_sighting_matters_cases(
    stored: dict[str, Any],
    others: list[dict[str, Any]],
    seen_after: float,
    completed_seq: int,
    expected: bool,
) -> None:
    versions = [stored, *others]
    assert sighting_matters(_sighting(seen_after), stored, versions, completed_seq) is expected
