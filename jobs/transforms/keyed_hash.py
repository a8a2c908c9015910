"""HMAC-SHA256 as Spark column expressions, with the key kept out of every plan.

Spark SQL has `sha2` but no HMAC. HMAC is only two nested hashes over the key XOR-ed with two
fixed pads (RFC 2104), so the driver derives the two padded keys once and the columns compute
`sha256(outer_pad || sha256(inner_pad || message))`: the result equals Python's
`hmac.new(key, message, sha256).hexdigest()`, with no Python UDF.

The padded keys are as secret as the key itself. They reach the plan only as a one-row
DataFrame built from local data and joined in (`with_key_pads`); a literal would be printed by
`DataFrame.explain()`, in the Spark UI and in error messages, the rows of a local relation are
not.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BinaryType, StructField, StructType

# RFC 2104 with SHA-256: 64-byte blocks, inner pad 0x36, outer pad 0x5c.
_BLOCK_BYTES = 64
INNER_PAD_COLUMN = "_hmac_inner_pad"
OUTER_PAD_COLUMN = "_hmac_outer_pad"
_PADS = StructType(
    [
        StructField(INNER_PAD_COLUMN, BinaryType(), False),
        StructField(OUTER_PAD_COLUMN, BinaryType(), False),
    ]
)


def key_pads(key: str) -> tuple[bytes, bytes]:
    """The inner and outer padded keys of HMAC-SHA256 for `key` (UTF-8)."""
    raw = key.encode("utf-8")
    if len(raw) > _BLOCK_BYTES:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(_BLOCK_BYTES, b"\0")
    return bytes(b ^ 0x36 for b in raw), bytes(b ^ 0x5C for b in raw)


def with_key_pads(frame: DataFrame, key: str) -> DataFrame:
    """`frame` plus the two pad columns, joined in from a broadcast one-row DataFrame."""
    pads = frame.sparkSession.createDataFrame([key_pads(key)], _PADS)
    return frame.crossJoin(F.broadcast(pads))


def without_key_pads(frame: DataFrame) -> DataFrame:
    """Drop the pad columns again, so that they can never be written anywhere."""
    return frame.drop(INNER_PAD_COLUMN, OUTER_PAD_COLUMN)


def hmac_sha256(message: Column) -> Column:
    """Hex HMAC-SHA256 of a string column (UTF-8) under the key joined by `with_key_pads`.

    Null stays null, so that an absent value never turns into a hash that every absent value
    shares.
    """
    inner = F.unhex(F.sha2(F.concat(F.col(INNER_PAD_COLUMN), F.encode(message, "UTF-8")), 256))
    outer = F.sha2(F.concat(F.col(OUTER_PAD_COLUMN), inner), 256)
    return F.when(message.isNotNull(), outer)
