"""Unit tests for jobs.transforms.strings: Unicode trimming and code normalisation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from jobs.transforms.strings import clean_code, clean_string, clean_upper_code


def _one(spark: SparkSession, value: str | None, expr: Callable[[Column], Column]) -> str | None:
    """Evaluate `expr` on a one-row StringType column holding `value`."""
    df = spark.createDataFrame([(value,)], "v string")
    return df.select(expr(F.col("v")).alias("out")).first()["out"]


BLANKS = [
    pytest.param(None, id="null"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="spaces"),
    pytest.param("\t\n\r", id="tab-newline"),
    pytest.param("\u00a0\u2007\u202f\u3000\ufeff\u200b", id="unicode-spaces"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Sales\u00a0", "Sales", id="no-break-space"),
        pytest.param("\u2007Sales\u202f", "Sales", id="figure-narrow-spaces"),
        pytest.param("\u2000\u2005\u200a\u200bSales\u3000", "Sales", id="general-punctuation"),
        pytest.param("\ufeffSales", "Sales", id="byte-order-mark"),
        pytest.param("\t Sales \n\r", "Sales", id="tab-newline"),
        pytest.param("Inbound  Sales\u00a0Team", "Inbound  Sales\u00a0Team", id="inner-kept"),
        pytest.param("Sales", "Sales", id="already-clean"),
    ],
)
def test_clean_string_edge_whitespace_trimmed(
    spark: SparkSession, text: str, expected: str
) -> None:
    assert _one(spark, text, clean_string) == expected


@pytest.mark.parametrize("text", BLANKS)
def test_clean_string_blank_without_default_gives_null(
    spark: SparkSession, text: str | None
) -> None:
    assert _one(spark, text, clean_string) is None


@pytest.mark.parametrize("text", BLANKS)
def test_clean_string_blank_with_default_gives_default(
    spark: SparkSession, text: str | None
) -> None:
    assert _one(spark, text, lambda c: clean_string(c, default="n/a")) == "n/a"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(" Voice ", "voice", id="trimmed-lowered"),
        pytest.param("OUTBOUND\u00a0", "outbound", id="no-break-space"),
        pytest.param("agent", "agent", id="already-clean"),
    ],
)
def test_clean_code_value_trimmed_lower_case(spark: SparkSession, text: str, expected: str) -> None:
    assert _one(spark, text, clean_code) == expected


@pytest.mark.parametrize("text", BLANKS)
def test_clean_code_blank_gives_unknown(spark: SparkSession, text: str | None) -> None:
    assert _one(spark, text, clean_code) == "unknown"


def test_clean_code_blank_with_none_default_gives_null(spark: SparkSession) -> None:
    assert _one(spark, "  ", lambda c: clean_code(c, default=None)) is None


def test_clean_code_custom_default_returned_as_given(spark: SparkSession) -> None:
    assert _one(spark, None, lambda c: clean_code(c, default="N/A")) == "N/A"


def test_clean_upper_code_value_trimmed_upper_case(spark: SparkSession) -> None:
    assert _one(spark, "\tout_of_office\u3000", clean_upper_code) == "OUT_OF_OFFICE"


@pytest.mark.parametrize("text", BLANKS)
def test_clean_upper_code_blank_gives_null(spark: SparkSession, text: str | None) -> None:
    assert _one(spark, text, clean_upper_code) is None


def test_clean_upper_code_blank_with_default_gives_default(spark: SparkSession) -> None:
    assert _one(spark, "", lambda c: clean_upper_code(c, default="NONE")) == "NONE"
