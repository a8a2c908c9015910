"""Unit tests for jobs.transforms.ids: single ids and id lists in their raw shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

from jobs.transforms.ids import clean_id, clean_id_array, clean_id_list


def _one(spark: SparkSession, value: Any, ddl: str, expr: Callable[[Column], Column]) -> Any:
    """Evaluate `expr` on a one-row, one-column DataFrame holding `value`."""
    df = spark.createDataFrame([(value,)], f"v {ddl}")
    return df.select(expr(F.col("v")).alias("out")).first()["out"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("u-7", id="plain"),
        pytest.param('["u-7"]', id="json-array"),
        pytest.param(" U-7 ", id="padded-upper"),
        pytest.param('[" U-7\u00a0"]', id="json-array-padded"),
        pytest.param('  ["u-7"]\n', id="padded-json-array"),
    ],
)
def test_clean_id_raw_shapes_give_u7(spark: SparkSession, text: str) -> None:
    assert _one(spark, text, "string", clean_id) == "u-7"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[]", id="empty-array"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("null", id="null-text"),
        pytest.param("NULL", id="null-text-upper"),
        pytest.param(None, id="null"),
        pytest.param('[" ", null]', id="array-of-blanks"),
        pytest.param("[u-7", id="malformed-json"),
    ],
)
def test_clean_id_empty_shapes_give_null(spark: SparkSession, text: str | None) -> None:
    assert _one(spark, text, "string", clean_id) is None


def test_clean_id_several_ids_gives_first_non_blank(spark: SparkSession) -> None:
    assert _one(spark, '["", " ", "B-2", "a-1"]', "string", clean_id) == "b-2"


def test_clean_id_to_json_of_array_column_gives_id(spark: SparkSession) -> None:
    assert _one(spark, ["u-7"], "array<string>", lambda c: clean_id(F.to_json(c))) == "u-7"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('["A"," b "]', ["a", "b"], id="json-array"),
        pytest.param("a, b", ["a", "b"], id="csv"),
        pytest.param("U-7", ["u-7"], id="single"),
        pytest.param('["b","A","a"," B"]', ["b", "a"], id="duplicates-first-seen-order"),
        pytest.param("c,,  ,b,C", ["c", "b"], id="csv-blanks-and-duplicates"),
        pytest.param('["x", "", null, "null"]', ["x"], id="json-blanks"),
    ],
)
def test_clean_id_list_shapes_give_clean_list(
    spark: SparkSession, text: str, expected: list[str]
) -> None:
    assert _one(spark, text, "string", clean_id_list) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(None, id="null"),
        pytest.param("", id="empty"),
        pytest.param(" \u00a0", id="blank"),
        pytest.param("[]", id="empty-array"),
        pytest.param("[a,", id="malformed-json"),
    ],
)
def test_clean_id_list_empty_shapes_give_empty_list(spark: SparkSession, text: str | None) -> None:
    assert _one(spark, text, "string", clean_id_list) == []


def test_clean_id_list_result_type_array_of_string(spark: SparkSession) -> None:
    df = spark.createDataFrame([("a",)], "v string")
    assert df.select(clean_id_list(F.col("v"))).schema[0].dataType.simpleString() == (
        "array<string>"
    )


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        pytest.param(["u-7"], ["u-7"], id="single"),
        pytest.param([" B ", "a", None, "", "b", "NULL"], ["b", "a"], id="noisy"),
        pytest.param([], [], id="empty"),
        pytest.param(None, [], id="null-array"),
    ],
)
def test_clean_id_array_array_column_gives_clean_list(
    spark: SparkSession, ids: list[str | None] | None, expected: list[str]
) -> None:
    assert _one(spark, ids, "array<string>", clean_id_array) == expected


def test_clean_id_array_result_type_array_of_string(spark: SparkSession) -> None:
    df = spark.createDataFrame([(["a"],)], "v array<string>")
    data_type = df.select(clean_id_array(F.col("v"))).schema[0].dataType
    assert data_type == ArrayType(StringType(), containsNull=True)
