"""Instants as Spark column expressions: parse, format and split into UTC date/hour keys.

Nothing here reads the session time zone: every result is the same whatever it is set to.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from jobs.transforms.strings import clean_string

_MICROS_PER_MILLI = 1_000
_MICROS_PER_SECOND = 1_000_000
_MICROS_PER_MINUTE = 60 * _MICROS_PER_SECOND
_MICROS_PER_HOUR = 60 * _MICROS_PER_MINUTE
_MICROS_PER_DAY = 24 * _MICROS_PER_HOUR

# Instants outside 0001-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z are refused: beyond
# them the ISO text needs a sign or more than four year digits, and epoch values far out
# overflow Spark's microsecond counter (an exception under ANSI mode, not a null).
_MIN_EPOCH_MILLIS = -62_135_596_800_000
_MAX_EPOCH_MILLIS = 253_402_300_799_999

# ISO-8601 date-time: `T`, `t` or a space between date and time; seconds and a fraction of 1-9
# digits optional; zone `Z`, `+hh:mm`, `+hhmm`, `+hh` or absent (absent means UTC). Each group
# is captured so one regex pass can rewrite the text into a single canonical layout.
_ISO_PATTERN = (
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r" ?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$"
)
_ISO_GROUPS = "|".join(f"${i}" for i in range(1, 12))
_CANONICAL_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"
_EPOCH_MILLIS_PATTERN = r"^-?\d{1,19}$"


def instant_from_epoch_millis(col: Column) -> Column:
    """Convert epoch milliseconds to an instant.

    Args:
        col: LongType or IntegerType column of milliseconds since 1970-01-01T00:00:00Z.

    Returns:
        TimestampType column. Null input, or a value outside years 0001-9999, gives null
        rather than an overflow error.
    """
    millis = col.cast("long")
    in_range = millis.between(_MIN_EPOCH_MILLIS, _MAX_EPOCH_MILLIS)
    return F.when(in_range, F.timestamp_millis(millis))


def _parse_iso(text: Column) -> Column:
    parts = F.split(F.regexp_replace(text, _ISO_PATTERN, _ISO_GROUPS), r"\|")

    def part(index: int, missing: str) -> Column:
        # F.get gives null, not an ANSI index error, if the array is ever shorter.
        value = F.get(parts, index)
        return F.when(value == "", F.lit(missing)).otherwise(value)

    # Fractions beyond microseconds are truncated: Spark keeps microseconds, no rounding.
    fraction = F.rpad(F.substring(F.get(parts, 6), 1, 6), 6, "0")
    has_offset = F.get(parts, 8) != ""
    offset = F.when(
        has_offset, F.concat(F.get(parts, 8), F.get(parts, 9), F.lit(":"), part(10, "00"))
    ).otherwise(F.lit("+00:00"))
    canonical = F.concat(
        F.get(parts, 0), F.lit("-"), F.get(parts, 1), F.lit("-"), F.get(parts, 2),
        F.lit("T"), F.get(parts, 3), F.lit(":"), F.get(parts, 4), F.lit(":"), part(5, "00"),
        F.lit("."), fraction, offset,
    )  # fmt: skip
    # The text always carries an explicit offset, so the parser never falls back on the
    # session zone; try_to_timestamp turns impossible dates (02-30, hour 24) into null.
    return F.try_to_timestamp(canonical, F.lit(_CANONICAL_FORMAT))


def _within_supported_range(ts: Column) -> Column:
    micros = F.unix_micros(ts)
    low = _MIN_EPOCH_MILLIS * _MICROS_PER_MILLI
    high = _MAX_EPOCH_MILLIS * _MICROS_PER_MILLI + (_MICROS_PER_MILLI - 1)
    return F.when(micros.between(low, high), ts)


def parse_utc_instant(col: Column) -> Column:
    """Parse an instant written as ISO-8601 text or as epoch-millisecond digits.

    Args:
        col: StringType column. Accepted: `2024-03-05T10:15:30.123Z`, an offset
            (`+02:00`, `+0200`, `+02`), a space instead of `T`, no zone at all (read as UTC),
            no seconds, no fraction or a fraction of 1-9 digits, and a string of digits
            (optionally `-`) read as epoch milliseconds (`1709633730123`). Surrounding
            whitespace is ignored.

    Returns:
        TimestampType column, independent of the session time zone. Precision is the
        microsecond; digits beyond it are truncated. Anything else gives null, never an
        error: blank or null text, a date alone, one-digit fields (`2021-04-2T...`),
        impossible dates or times (`2024-02-30`, hour 24), offsets beyond +-18:00, years
        outside 0001-9999. Note that a bare digit string is always milliseconds, so
        `20240305` is 1970-01-01T05:37:20.305Z, not a date.
    """
    text = clean_string(col)
    epoch_millis = instant_from_epoch_millis(text.try_cast("long"))
    parsed = F.when(text.rlike(_EPOCH_MILLIS_PATTERN), epoch_millis).when(
        text.rlike(_ISO_PATTERN), _parse_iso(text)
    )
    return _within_supported_range(parsed)


def _time_of_day_micros(ts: Column) -> Column:
    # pmod, unlike %, stays positive before 1970, so the time of day is right there too.
    return F.pmod(F.unix_micros(ts), F.lit(_MICROS_PER_DAY))


def _int_div(dividend: Column, divisor: int) -> Column:
    # Integral division on longs: a double division would lose precision past 2**53 micros.
    return F.call_function("div", dividend, F.lit(divisor))


def utc_date(col: Column) -> Column:
    """Return the UTC calendar date of an instant.

    Args:
        col: TimestampType column.

    Returns:
        DateType column (null for null), computed from the epoch count, not the session zone.
    """
    micros = F.unix_micros(col)
    days = _int_div(micros - _time_of_day_micros(col), _MICROS_PER_DAY)
    return F.date_from_unix_date(days.cast("int"))


def utc_date_key(col: Column) -> Column:
    """Return the UTC date of an instant as a `yyyymmdd` integer (dimension key).

    Args:
        col: TimestampType column.

    Returns:
        IntegerType column, e.g. 20240306 for 2024-03-05T23:30:00-02:00; null for null.
    """
    date = utc_date(col)
    return F.year(date) * 10_000 + F.month(date) * 100 + F.dayofmonth(date)


def utc_hour(col: Column) -> Column:
    """Return the UTC hour of an instant.

    Args:
        col: TimestampType column.

    Returns:
        IntegerType column in 0-23; null for null.
    """
    return _int_div(_time_of_day_micros(col), _MICROS_PER_HOUR).cast("int")


def format_utc_instant(col: Column) -> Column:
    """Write an instant as `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` in UTC.

    Args:
        col: TimestampType column.

    Returns:
        StringType column such as `2024-03-05T10:15:30.123Z`, whatever the session zone;
        sub-millisecond digits are truncated; null for null.
    """
    # Built from the epoch count because date_format renders in the session zone.
    time_of_day = _time_of_day_micros(col)
    millis_of_day = _int_div(time_of_day, _MICROS_PER_MILLI)

    def field(unit_millis: int, modulo: int, width: int) -> Column:
        value = F.pmod(_int_div(millis_of_day, unit_millis), F.lit(modulo))
        return F.lpad(value.cast("string"), width, "0")

    return F.concat(
        utc_date(col).cast("string"),
        F.lit("T"), field(3_600_000, 24, 2), F.lit(":"), field(60_000, 60, 2),
        F.lit(":"), field(1_000, 60, 2), F.lit("."), field(1, 1_000, 3), F.lit("Z"),
    )  # fmt: skip
