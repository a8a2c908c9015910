"""Unit tests for jobs.transforms.timestamps: parsing, formatting and UTC keys of instants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, TimestampType

from jobs.transforms.timestamps import (
    format_utc_instant,
    instant_from_epoch_millis,
    parse_utc_instant,
    utc_date,
    utc_date_key,
    utc_hour,
)

SESSION_ZONE = "spark.sql.session.timeZone"


def _one(spark: SparkSession, value: Any, ddl: str, expr: Callable[[Column], Column]) -> Any:
    """Evaluate `expr` on a one-row, one-column DataFrame holding `value`."""
    df = spark.createDataFrame([(value,)], f"v {ddl}")
    return df.select(expr(F.col("v")).alias("out")).first()["out"]


def _parsed_text(spark: SparkSession, text: str | None) -> str | None:
    return _one(spark, text, "string", lambda c: format_utc_instant(parse_utc_instant(c)))


@pytest.fixture(params=["America/Los_Angeles", "Asia/Kolkata"])
def foreign_session_zone(spark: SparkSession, request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test under a non-UTC session zone, then put UTC back whatever happens."""
    spark.conf.set(SESSION_ZONE, request.param)
    try:
        yield request.param
    finally:
        spark.conf.set(SESSION_ZONE, "UTC")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2024-03-05T10:15:30.123Z", id="zulu"),
        pytest.param("2024-03-05T12:15:30.123+02:00", id="offset-colon"),
        pytest.param("2024-03-05T12:15:30.123+0200", id="offset-no-colon"),
        pytest.param("2024-03-05T12:15:30.123+02", id="offset-hours-only"),
        pytest.param("2024-03-05T05:15:30.123-05:00", id="negative-offset"),
        pytest.param("2024-03-05 10:15:30.123", id="space-no-zone-is-utc"),
        pytest.param("2024-03-05 10:15:30.123Z", id="space-zulu"),
        pytest.param("2024-03-05t10:15:30.123z", id="lower-case-t-z"),
        pytest.param("1709633730123", id="epoch-millis-digits"),
        pytest.param("  2024-03-05T10:15:30.123Z\u00a0", id="padded"),
    ],
)
def test_parse_utc_instant_accepted_forms_same_instant(spark: SparkSession, text: str) -> None:
    assert _parsed_text(spark, text) == "2024-03-05T10:15:30.123Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2024-03-05T10:15:30Z", "2024-03-05T10:15:30.000Z", id="no-fraction"),
        pytest.param("2024-03-05T10:15Z", "2024-03-05T10:15:00.000Z", id="no-seconds"),
        pytest.param("2024-03-05T10:15:30.1Z", "2024-03-05T10:15:30.100Z", id="one-digit"),
        pytest.param("2024-03-05T10:15:30.123456789Z", "2024-03-05T10:15:30.123Z", id="nine"),
        pytest.param("2024-03-05T10:15:30.9999Z", "2024-03-05T10:15:30.999Z", id="truncated"),
    ],
)
def test_parse_utc_instant_fraction_variants_expected_millis(
    spark: SparkSession, text: str, expected: str
) -> None:
    assert _parsed_text(spark, text) == expected


def test_parse_utc_instant_six_digit_fraction_keeps_microseconds(spark: SparkSession) -> None:
    micros = _one(
        spark,
        "2024-03-05T10:15:30.123456Z",
        "string",
        lambda c: F.unix_micros(parse_utc_instant(c)),
    )
    assert micros == 1_709_633_730_123_456


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2021-04-2T15:30:51.418Z", id="one-digit-day"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(None, id="null"),
        pytest.param("not a date", id="words"),
        pytest.param("2024-03-05", id="date-only"),
        pytest.param("2024-02-30T10:15:30Z", id="february-30"),
        pytest.param("2023-02-29T10:15:30Z", id="not-leap-year"),
        pytest.param("2024-03-05T24:00:00Z", id="hour-24"),
        pytest.param("2024-03-05T10:60:00Z", id="minute-60"),
        pytest.param("2024-03-05T10:15:30+19:00", id="offset-beyond-18h"),
        pytest.param("2024-03-05T10:15:30.1234567890Z", id="ten-digit-fraction"),
        pytest.param("0000-01-01T00:00:00Z", id="year-zero"),
        pytest.param("99999999999999999999", id="digits-overflow-long"),
        pytest.param("9999999999999999", id="epoch-beyond-year-9999"),
        pytest.param("1709633730123.0", id="epoch-with-decimal"),
    ],
)
def test_parse_utc_instant_invalid_text_gives_null(spark: SparkSession, text: str | None) -> None:
    assert _one(spark, text, "string", parse_utc_instant) is None


def test_parse_utc_instant_result_type_is_timestamp(spark: SparkSession) -> None:
    df = spark.createDataFrame([("2024-03-05T10:15:30Z",)], "v string")
    assert df.select(parse_utc_instant(F.col("v"))).schema[0].dataType == TimestampType()


@pytest.mark.parametrize(
    ("millis", "ddl", "expected"),
    [
        pytest.param(1_709_633_730_123, "long", "2024-03-05T10:15:30.123Z", id="long"),
        pytest.param(0, "int", "1970-01-01T00:00:00.000Z", id="int-zero"),
        pytest.param(-1, "long", "1969-12-31T23:59:59.999Z", id="before-1970"),
        pytest.param(253_402_300_799_999, "long", "9999-12-31T23:59:59.999Z", id="upper-bound"),
    ],
)
def test_instant_from_epoch_millis_numbers_expected_text(
    spark: SparkSession, millis: int, ddl: str, expected: str
) -> None:
    result = _one(spark, millis, ddl, lambda c: format_utc_instant(instant_from_epoch_millis(c)))
    assert result == expected


@pytest.mark.parametrize(
    "millis",
    [
        pytest.param(None, id="null"),
        pytest.param(253_402_300_800_000, id="year-10000"),
        pytest.param(9_000_000_000_000_000_000, id="would-overflow-micros"),
    ],
)
def test_instant_from_epoch_millis_null_or_out_of_range_gives_null(
    spark: SparkSession, millis: int | None
) -> None:
    assert _one(spark, millis, "long", instant_from_epoch_millis) is None


def test_utc_date_key_negative_offset_crosses_midnight_next_day(spark: SparkSession) -> None:
    key = _one(
        spark, "2024-03-05T23:30:00-02:00", "string", lambda c: utc_date_key(parse_utc_instant(c))
    )
    assert key == 20240306


def test_utc_hour_negative_offset_crosses_midnight_hour_one(spark: SparkSession) -> None:
    hour = _one(
        spark, "2024-03-05T23:30:00-02:00", "string", lambda c: utc_hour(parse_utc_instant(c))
    )
    assert hour == 1


def test_utc_date_key_and_hour_before_1970_expected(spark: SparkSession) -> None:
    df = spark.createDataFrame([("1969-12-31T23:59:59.999Z",)], "v string")
    ts = parse_utc_instant(F.col("v"))
    row = df.select(utc_date_key(ts).alias("key"), utc_hour(ts).alias("hour")).first()
    assert (row["key"], row["hour"]) == (19691231, 23)


def test_utc_date_late_evening_offset_gives_next_utc_day(spark: SparkSession) -> None:
    text = "2024-03-05T23:30:00-02:00"
    date = _one(spark, text, "string", lambda c: utc_date(parse_utc_instant(c)).cast("string"))
    assert date == "2024-03-06"


def test_utc_keys_and_format_null_instant_give_null(spark: SparkSession) -> None:
    df = spark.createDataFrame([(None,)], "v timestamp")
    row = df.select(
        format_utc_instant(F.col("v")), utc_date_key(F.col("v")), utc_hour(F.col("v"))
    ).first()
    assert tuple(row) == (None, None, None)


def test_format_and_keys_result_types_string_and_integers(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1,)], "v long")
    ts = instant_from_epoch_millis(F.col("v"))
    types = [
        f.dataType for f in df.select(format_utc_instant(ts), utc_date_key(ts), utc_hour(ts)).schema
    ]
    assert types == [StringType(), IntegerType(), IntegerType()]


# Inputs chosen around the session zones' own transitions: 2024-03-10 02:30 does not exist in
# Los Angeles (spring forward) and 01:30 happens twice there on 2024-11-03 (fall back).
ZONE_CASES = [
    ("2024-03-05T10:15:30.123Z", "2024-03-05T10:15:30.123Z", 20240305, 10),
    ("2024-03-05T12:15:30.123+02:00", "2024-03-05T10:15:30.123Z", 20240305, 10),
    ("2024-03-05 10:15:30.123", "2024-03-05T10:15:30.123Z", 20240305, 10),
    ("1709633730123", "2024-03-05T10:15:30.123Z", 20240305, 10),
    ("2024-03-05T23:30:00-02:00", "2024-03-06T01:30:00.000Z", 20240306, 1),
    ("2024-03-10 02:30:00", "2024-03-10T02:30:00.000Z", 20240310, 2),
    ("2024-11-03T08:30:00Z", "2024-11-03T08:30:00.000Z", 20241103, 8),
    ("2024-11-03T09:30:00Z", "2024-11-03T09:30:00.000Z", 20241103, 9),
    ("2024-03-05T20:00:00Z", "2024-03-05T20:00:00.000Z", 20240305, 20),
]


def _zone_results(spark: SparkSession) -> list[tuple[str, int, int]]:
    df = spark.createDataFrame([(i, c[0]) for i, c in enumerate(ZONE_CASES)], "i int, v string")
    ts = parse_utc_instant(F.col("v"))
    rows = df.select("i", format_utc_instant(ts), utc_date_key(ts), utc_hour(ts)).collect()
    return [tuple(r)[1:] for r in sorted(rows, key=lambda r: r[0])]


def test_transforms_utc_session_expected_values(spark: SparkSession) -> None:
    assert _zone_results(spark) == [c[1:] for c in ZONE_CASES]


def test_transforms_foreign_session_zone_same_values(
    spark: SparkSession, foreign_session_zone: str
) -> None:
    assert spark.conf.get(SESSION_ZONE) == foreign_session_zone
    assert _zone_results(spark) == [c[1:] for c in ZONE_CASES]


def test_parse_utc_instant_foreign_session_zone_same_epoch(
    spark: SparkSession, foreign_session_zone: str
) -> None:
    df = spark.createDataFrame([("2024-03-10 02:30:00.5",)], "v string")
    millis = df.select(F.unix_millis(parse_utc_instant(F.col("v")))).first()[0]
    assert millis == 1_710_037_800_500
