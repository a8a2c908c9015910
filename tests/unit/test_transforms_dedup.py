"""Unit tests for jobs.transforms.dedup: latest row per key and missing-key split."""

from __future__ import annotations

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.transforms.dedup import latest_per_key, split_missing_keys

SCHEMA = "id string, version long, updated string, payload string"


def _newest_first() -> list[Column]:
    """Highest version first; built on demand because a Column needs a running session."""
    return [F.col("version").desc_nulls_last()]


def _rows(df: DataFrame) -> list[tuple[object, ...]]:
    """Collected rows as tuples, sorted with nulls first so the comparison is order-free."""
    return sorted((tuple(r) for r in df.collect()), key=lambda t: [(v is not None, v) for v in t])


def test_latest_per_key_three_versions_shuffled_keeps_highest(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("c-1", 2, "t2", "second"), ("c-1", 3, "t3", "third"), ("c-1", 1, "t1", "first")],
        SCHEMA,
    ).repartition(2)
    assert _rows(latest_per_key(df, ["id"], _newest_first())) == [("c-1", 3, "t3", "third")]


def test_latest_per_key_two_keys_keeps_one_each(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", 1, "t1", "a1"), ("b", 5, "t5", "b5"), ("a", 2, "t2", "a2"), ("b", 4, "t4", "b4")],
        SCHEMA,
    )
    result = latest_per_key(df, ["id"], _newest_first())
    assert _rows(result) == [("a", 2, "t2", "a2"), ("b", 5, "t5", "b5")]


def test_latest_per_key_tie_on_first_order_broken_by_second(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", 2, "t1", "older"), ("a", 2, "t3", "newest"), ("a", 2, "t2", "middle")],
        SCHEMA,
    )
    order = [F.col("version").desc_nulls_last(), F.col("updated").desc_nulls_last()]
    assert _rows(latest_per_key(df, ["id"], order)) == [("a", 2, "t3", "newest")]


def test_latest_per_key_null_order_value_sorted_last(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", None, "t9", "no-version"), ("a", 1, "t1", "v1")], SCHEMA)
    assert _rows(latest_per_key(df, ["id"], _newest_first())) == [("a", 1, "t1", "v1")]


def test_latest_per_key_composite_key_keeps_one_per_combination(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", 1, "x", "a-x-1"), ("a", 2, "x", "a-x-2"), ("a", 1, "y", "a-y-1")], SCHEMA
    )
    result = latest_per_key(df, ["id", "updated"], _newest_first())
    assert _rows(result) == [("a", 1, "y", "a-y-1"), ("a", 2, "x", "a-x-2")]


def test_latest_per_key_full_tie_same_pick_for_any_input_order(spark: SparkSession) -> None:
    rows = [("a", 1, "t1", "p"), ("a", 1, "t1", "q"), ("a", 1, "t1", "r")]
    picks = {
        tuple(_rows(latest_per_key(spark.createDataFrame(order, SCHEMA), ["id"], _newest_first())))
        for order in (rows, rows[::-1], [rows[1], rows[2], rows[0]])
    }
    assert len(picks) == 1


def test_latest_per_key_null_key_rows_all_kept(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [(None, 1, "t1", "n1"), (None, 2, "t2", "n2"), ("a", 1, "t1", "a1"), ("a", 2, "t2", "a2")],
        SCHEMA,
    )
    result = latest_per_key(df, ["id"], _newest_first())
    assert _rows(result) == [(None, 1, "t1", "n1"), (None, 2, "t2", "n2"), ("a", 2, "t2", "a2")]


def test_latest_per_key_map_column_still_deduplicated(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", 1, {"k": "v1"}), ("a", 2, {"k": "v2"})],
        "id string, version long, m map<string,string>",
    )
    result = latest_per_key(df, ["id"], _newest_first())
    assert _rows(result) == [("a", 2, {"k": "v2"})]


def test_latest_per_key_keeps_columns_and_adds_none(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", 1, "t1", "p")], SCHEMA)
    assert latest_per_key(df, ["id"], _newest_first()).columns == df.columns


def test_latest_per_key_unknown_key_raises_naming_it(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", 1, "t1", "p")], SCHEMA)
    with pytest.raises(ValueError, match="conversationId, segment"):
        latest_per_key(df, ["id", "conversationId", "segment"], _newest_first())


def test_latest_per_key_no_keys_raises(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", 1, "t1", "p")], SCHEMA)
    with pytest.raises(ValueError, match="key"):
        latest_per_key(df, [], _newest_first())


def test_latest_per_key_no_order_raises(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", 1, "t1", "p")], SCHEMA)
    with pytest.raises(ValueError, match="order"):
        latest_per_key(df, ["id"], [])


def test_latest_per_key_dotted_column_name_is_one_column(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", 1), ("a", 2)], "`conv.id` string, version long")
    assert _rows(latest_per_key(df, ["conv.id"], _newest_first())) == [("a", 2)]


def test_split_missing_keys_counts_present_and_missing(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [
            ("a", 1, "t1", "ok"),
            ("b", 2, "t2", "ok"),
            ("c", 3, None, "ok"),
            (None, 4, "t4", "no-id"),
            ("d", None, "t5", "no-version"),
            (None, None, "t6", "neither"),
        ],
        SCHEMA,
    )
    present, missing = split_missing_keys(df, ["id", "version"])
    assert (present.count(), missing.count()) == (3, 3)


def test_split_missing_keys_missing_part_holds_null_key_rows(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("a", 1, "t1", "ok"), (None, 4, "t4", "no-id"), ("d", None, "t5", "no-version")],
        SCHEMA,
    )
    _, missing = split_missing_keys(df, ["id", "version"])
    assert sorted(r["payload"] for r in missing.collect()) == ["no-id", "no-version"]


def test_split_missing_keys_unknown_key_raises_naming_it(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a", 1, "t1", "p")], SCHEMA)
    with pytest.raises(ValueError, match="userId"):
        split_missing_keys(df, ["userId"])
