"""Unit tests for jobs.star.listings and the listing helpers of the `genesys_raw` source: which
members a batch's complete listings flag as removed from the source, and when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from connectors.mongo.raw_source import CompleteListing, newest_listing_holding
from jobs.star.listings import SOURCE_STATE, changed_states, judge_listings, with_source_state
from jobs.transforms.timestamps import format_utc_instant

EARLIER = datetime(2026, 12, 4, 9, 0, 3, tzinfo=UTC)  # a removal before the batch's listings
FIRST = "2026-12-04T10:30:07.000Z"  # fetch time of the batch's first queues listing
SECOND = "2026-12-04T11:00:05.000Z"  # and of its second, newest one
LATER = datetime(2026, 12, 4, 12, 0, 1, tzinfo=UTC)  # a removal after them

# member -> (stored in_source, stored removed_from_source_at, newest listing that held it)
MEMBERS: dict[str, tuple[bool | None, datetime | None, str | None]] = {
    "q-kept": (True, None, "L2"),
    "q-gone": (True, None, "L1"),
    "q-never-held": (True, None, None),
    "q-long-gone": (False, EARLIER, None),
    "q-back": (False, EARLIER, "L2"),
    "q-back-and-gone": (False, EARLIER, "L1"),
    "q-new": (None, None, "L2"),
    "q-new-unheld": (None, None, None),
    "q-removed-later": (False, LATER, "L2"),
}


def _text(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _states(spark: SparkSession, members: dict[str, tuple[Any, ...]]) -> DataFrame:
    rows = [(key, state[0], state[1]) for key, state in members.items()]
    return spark.createDataFrame(rows, SOURCE_STATE)


def _collected(frame: DataFrame) -> dict[str, tuple[bool | None, str | None]]:
    removed = format_utc_instant(F.col("removed_from_source_at")).alias("removed")
    return {
        row["_id"]: (row["in_source"], row["removed"])
        for row in frame.select("*", removed).collect()
    }


@pytest.fixture(scope="module")
def judged(spark: SparkSession) -> dict[str, tuple[bool | None, str | None]]:
    """The states `judge_listings` gives MEMBERS after listings L1 and L2 (shuffled)."""
    listings = spark.createDataFrame(
        [("queues", "L2", SECOND), ("queues", "L1", FIRST)],
        "endpoint string, listing_id string, t string",
    ).select("endpoint", "listing_id", F.to_timestamp("t").alias("fetched_at"))
    held = spark.createDataFrame(
        [(key, state[2]) for key, state in MEMBERS.items() if state[2]],
        "_id string, listing_id string",
    )
    return _collected(judge_listings(_states(spark, MEMBERS), listings, held))


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        pytest.param("q-kept", (True, None), id="in-newest-stays-in-source"),
        pytest.param("q-gone", (False, SECOND), id="missing-from-newest-removed-at-its-fetch"),
        pytest.param("q-never-held", (False, FIRST), id="in-no-listing-removed-at-the-first"),
        pytest.param("q-long-gone", (False, _text(EARLIER)), id="already-flagged-keeps-instant"),
        pytest.param("q-back", (True, None), id="back-in-newest-unflagged"),
        pytest.param("q-back-and-gone", (False, SECOND), id="back-then-gone-again-new-instant"),
        pytest.param("q-new", (True, None), id="new-member-in-newest"),
        pytest.param("q-new-unheld", (False, FIRST), id="new-member-in-no-listing-removed"),
        pytest.param(
            "q-removed-later",
            (False, _text(LATER)),
            id="listing-older-than-removal-unflags-nothing",
        ),
    ],
)
def test_judge_listings_member_gets_expected_state(
    judged: dict[str, tuple[bool | None, str | None]],
    member: str,
    expected: tuple[bool, str | None],
) -> None:
    assert judged[member] == expected


def test_judge_listings_one_state_per_member(
    judged: dict[str, tuple[bool | None, str | None]],
) -> None:
    assert sorted(judged) == sorted(MEMBERS)


def test_with_source_state_unjudged_row_in_source_stored_state_carried(
    spark: SparkSession,
) -> None:
    rows = spark.createDataFrame([("q-1", "Sales"), ("q-2", "Support")], "_id string, name string")
    states = _states(spark, {"q-2": (False, EARLIER), "q-9": (True, None)})
    result = _collected(with_source_state(rows, states))
    assert result == {"q-1": (True, None), "q-2": (False, _text(EARLIER))}


def test_changed_states_same_states_left_out_null_and_values_compared(
    spark: SparkSession,
) -> None:
    before = _states(spark, {"a": (True, None), "b": (None, None), "c": (False, EARLIER)})
    after = _states(spark, {"a": (True, None), "b": (True, None), "c": (False, LATER)})
    assert _collected(changed_states(before, after)) == {
        "b": (True, None),
        "c": (False, _text(LATER)),
    }


LISTINGS = [
    CompleteListing("B1|queues|W1", "queues", land_seq=10, fetched_at=FIRST),
    CompleteListing("B2|queues|W2", "queues", land_seq=20, fetched_at=SECOND),
]


@pytest.mark.parametrize(
    ("last_landed", "expected"),
    [
        pytest.param(5, None, id="last-landed-before-every-listing"),
        pytest.param(10, "B1|queues|W1", id="landed-by-the-first-only"),
        pytest.param(15, "B1|queues|W1", id="landed-between-the-two"),
        pytest.param(20, "B2|queues|W2", id="landed-by-the-newest"),
        pytest.param(30, "B2|queues|W2", id="seen-again-after-both"),
    ],
)
def test_newest_listing_holding_by_last_landing(last_landed: int, expected: str | None) -> None:
    holding = newest_listing_holding(LISTINGS, last_landed)
    assert (holding.control_id if holding else None) == expected


def test_newest_listing_holding_orders_by_fetch_time_not_landing() -> None:
    # A listing landed earlier but fetched later (two capture queries at once) is the newer.
    listings = [
        CompleteListing("B1|queues|W1", "queues", land_seq=10, fetched_at=SECOND),
        CompleteListing("B2|queues|W2", "queues", land_seq=20, fetched_at=FIRST),
    ]
    holding = newest_listing_holding(listings, 25)
    assert holding is not None and holding.control_id == "B1|queues|W1"
