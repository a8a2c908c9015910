"""Identifier cleaning as Spark column expressions: plain ids, JSON array texts, CSV lists."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from jobs.transforms.strings import clean_string

_STRING_ARRAY = "array<string>"


def _clean_token(token: Column) -> Column:
    """One id: trimmed, lower case; blank and the text `null` (any case) become null."""
    lowered = F.lower(clean_string(token))
    return F.when(lowered != "null", lowered)


def _looks_like_json_array(text: Column) -> Column:
    return clean_string(text).startswith("[")


def _parse_json_array(text: Column) -> Column:
    # from_json returns null for malformed text (PERMISSIVE mode) instead of failing the job;
    # non-string elements (numbers, booleans, objects) come back as their JSON text.
    return F.from_json(clean_string(text), _STRING_ARRAY)


def clean_id_array(col: Column) -> Column:
    """Clean every id of an array: trim, lower case, drop blanks and duplicates.

    Args:
        col: ArrayType(StringType) column.

    Returns:
        ArrayType(StringType) column, never null: ids trimmed (Unicode whitespace too) and
        lower-cased; null, blank and `"null"` elements dropped; duplicates (after cleaning)
        dropped keeping the first-seen order. A null array gives an empty array, so callers can
        explode or size it without a null check.
    """
    cleaned = F.filter(F.transform(col, _clean_token), lambda x: x.isNotNull())
    return F.coalesce(F.array_distinct(cleaned), F.array().cast(_STRING_ARRAY))


def clean_id_list(col: Column) -> Column:
    """Turn a text holding several ids into a clean list.

    Args:
        col: StringType column holding a JSON array text (`["A"," b "]`), a comma-separated
            list (`a, b`) or a single id.

    Returns:
        ArrayType(StringType) column, never null, cleaned as `clean_id_array` does. Null, empty
        or blank text gives `[]`; so does text that starts with `[` but is not a valid JSON
        array, since guessing at its items would invent ids.
    """
    items = F.when(_looks_like_json_array(col), _parse_json_array(col)).otherwise(F.split(col, ","))
    return clean_id_array(items)


def clean_id(col: Column) -> Column:
    """Clean a single id that may arrive wrapped in a JSON array text.

    Args:
        col: StringType column: a plain id (`u-7`, ` U-7 `) or a JSON array text with one id
            (`["u-7"]`, what `from_json` leaves in a StringType field that held an array, or
            what `to_json` makes of an array column).

    Returns:
        StringType column: the id trimmed and lower-cased. A JSON array with several ids gives
        its first non-blank one (the others are ignored). Null, `""`, blank, `"null"`, `[]`,
        an array of blanks and text that starts with `[` but is not valid JSON give null.
    """
    first_in_array = F.get(clean_id_array(_parse_json_array(col)), 0)
    return F.when(_looks_like_json_array(col), first_in_array).otherwise(_clean_token(col))
