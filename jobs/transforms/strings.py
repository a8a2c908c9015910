"""String cleaning as Spark column expressions: Unicode-aware trimming and enum-like codes."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# Java regex class of what counts as padding. `\s` alone misses the no-break and typographic
# spaces (`\p{Z}` covers U+00A0, U+2000-U+200A, U+2007, U+202F, U+3000, line/paragraph
# separators); U+0085, U+180E, U+200B-U+200D, U+2060 and the BOM U+FEFF are not in `\p{Z}` but
# arrive as invisible padding in exported data all the same.
_PAD = r"[\s\p{Z}\u0085\u180e\u200b-\u200d\u2060\ufeff]"
_EDGE_PAD = rf"^{_PAD}+|{_PAD}+$"


def clean_string(col: Column, default: str | None = None) -> Column:
    """Trim Unicode whitespace at both ends; blank becomes `default`.

    Args:
        col: StringType column.
        default: value returned for null, empty or all-whitespace input.

    Returns:
        StringType column. Whitespace is removed only at the two ends (tabs, newlines, no-break
        and other Unicode spaces, zero-width space, BOM); inner whitespace is kept as is. Null,
        `""` and blank strings all give `default` (null when `default` is None).
    """
    trimmed = F.regexp_replace(col, _EDGE_PAD, "")
    cleaned = F.when(trimmed != "", trimmed)
    return cleaned if default is None else F.coalesce(cleaned, F.lit(default))


def clean_code(col: Column, default: str | None = "unknown") -> Column:
    """Normalise an enum-like code (mediaType, direction, purpose...) to trimmed lower case.

    Args:
        col: StringType column.
        default: value for null, empty or blank input (`"unknown"` unless given; None keeps
            null).

    Returns:
        StringType column: the trimmed value in lower case, or `default`. The default itself is
        returned exactly as given, not lower-cased.
    """
    lowered = F.lower(clean_string(col))
    return lowered if default is None else F.coalesce(lowered, F.lit(default))


def clean_upper_code(col: Column, default: str | None = None) -> Column:
    """Normalise a code that callers want in upper case (e.g. wrap-up system codes).

    Args:
        col: StringType column.
        default: value for null, empty or blank input (null unless given).

    Returns:
        StringType column: the trimmed value in upper case, or `default` returned as given.
    """
    raised = F.upper(clean_string(col))
    return raised if default is None else F.coalesce(raised, F.lit(default))
