"""Keep the latest version of each record, and set apart rows whose key is missing."""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, MapType, StructType, VariantType

_ROW_NUMBER = "__latest_per_key_rank"


def _column(name: str) -> Column:
    # Back-quoted so a name holding a dot is one column, not a struct field path.
    return F.col("`" + name.replace("`", "``") + "`")


def _check_keys(df: DataFrame, keys: list[str]) -> None:
    if not keys:
        raise ValueError("at least one key column is required")
    missing = [key for key in keys if key not in df.columns]
    if missing:
        raise ValueError(f"key columns not in the DataFrame: {', '.join(missing)}")


def _hashable(data_type: DataType) -> bool:
    # Spark refuses to hash maps and variants, at any depth.
    if isinstance(data_type, MapType | VariantType):
        return False
    if isinstance(data_type, ArrayType):
        return _hashable(data_type.elementType)
    if isinstance(data_type, StructType):
        return all(_hashable(field.dataType) for field in data_type.fields)
    return True


def _any_key_null(keys: list[str]) -> Column:
    return reduce(lambda left, right: left | right, (_column(key).isNull() for key in keys))


def split_missing_keys(df: DataFrame, keys: list[str]) -> tuple[DataFrame, DataFrame]:
    """Split rows by whether every key column holds a value.

    Args:
        df: any DataFrame.
        keys: names of top-level key columns.

    Returns:
        (rows whose keys are all non-null, rows with at least one null key). Every input row
        lands in exactly one part, so the second can be quarantined instead of lost.

    Raises:
        ValueError: `keys` is empty or names a column `df` does not have.
    """
    _check_keys(df, keys)
    any_null = _any_key_null(keys)
    return df.filter(~any_null), df.filter(any_null)


def latest_per_key(df: DataFrame, keys: list[str], order: list[Column]) -> DataFrame:
    """Keep one row per key combination: the first by `order`.

    Args:
        df: any DataFrame.
        keys: names of top-level key columns.
        order: sort expressions, first wins, e.g.
            `[F.col("updated").desc_nulls_last(), F.col("version").desc_nulls_last()]`.

    Returns:
        DataFrame with the columns of `df`. Callers should make `order` a total order within
        a key; rows it leaves tied are broken by a hash of the whole row (columns holding maps
        or variants excluded), so the pick does not change between runs or partitionings, but
        it is not meaningful, and rows equal everywhere but in those columns stay a random
        pick. Rows with any null key are all kept unchanged, never merged or dropped: use
        `split_missing_keys` first to handle them apart.

    Raises:
        ValueError: `keys` or `order` is empty, or `keys` names a column `df` lacks.
    """
    _check_keys(df, keys)
    if not order:
        raise ValueError("at least one order expression is required")
    hashable = [_column(field.name) for field in df.schema.fields if _hashable(field.dataType)]
    tie_break = [F.xxhash64(*hashable)] if hashable else []
    window = Window.partitionBy(*[_column(key) for key in keys]).orderBy(*order, *tie_break)
    ranked = df.withColumn(_ROW_NUMBER, F.row_number().over(window))
    return ranked.filter((F.col(_ROW_NUMBER) == 1) | _any_key_null(keys)).drop(_ROW_NUMBER)
