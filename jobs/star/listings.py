"""Whether each dimension member is still in its Genesys listing: complete listings in, the
members' source state out. Genesys drops a deleted queue, skill or wrap-up code from its listing;
the member is then flagged, never deleted, so that facts keep pointing to it.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType, TimestampType

# The state a listing decides, stored on every member built from a listing.
SOURCE_STATE = StructType(
    [
        StructField("_id", StringType(), False),
        StructField("in_source", BooleanType(), True),
        StructField("removed_from_source_at", TimestampType(), True),
    ]
)
STATE_COLUMNS = ["in_source", "removed_from_source_at"]


def judge_listings(states: DataFrame, listings: DataFrame, listed: DataFrame) -> DataFrame:
    """The source state of every member after the complete listings of one endpoint.

    A member in the newest listing (by fetch time) is in the source; one missing from it was
    removed when the first listing that missed it since it was last listed was fetched. A member
    already flagged and in none of the listings keeps its removal instant. A listing fetched
    before a member's removal never un-flags it, so re-curating old raw batches changes nothing.

    Args:
        states: `SOURCE_STATE` of the members to judge: the stored ones (fixed members left out)
            and new ones with a null state.
        listings: (`endpoint`, `listing_id`, `fetched_at`) of the batch's complete listings of
            the endpoint, at least one.
        listed: (`_id`, `listing_id`): for each member some listing held, the newest one.

    Returns:
        `SOURCE_STATE`, one row per row of `states`.
    """
    ranked = listings.withColumn(
        "rank",
        F.row_number().over(Window.partitionBy("endpoint").orderBy("fetched_at", "listing_id")),
    )
    newest = ranked.agg(
        F.max("rank").alias("newest_rank"), F.max("fetched_at").alias("newest_fetched_at")
    )
    last_listed = (
        listed.join(ranked.select("listing_id", "rank"), "listing_id")
        .groupBy("_id")
        .agg(F.max("rank").alias("last_rank"))
    )
    missed = ranked.select(
        F.col("rank").alias("missed_rank"), F.col("fetched_at").alias("missed_at")
    )
    judged = (
        states.join(last_listed, "_id", "left")
        .crossJoin(F.broadcast(newest))
        .withColumn("missed_rank", F.coalesce(F.col("last_rank"), F.lit(0)) + 1)
        .join(F.broadcast(missed), "missed_rank", "left")
    )
    in_newest = F.coalesce(F.col("last_rank") == F.col("newest_rank"), F.lit(False))
    flagged = F.coalesce(~F.col("in_source"), F.lit(False))
    removed_at = F.col("removed_from_source_at")
    # Held by a listing fetched no later than the removal: the listing that missed the member
    # (it was seen again since) or an older one curated again. Neither un-flags it.
    not_after_removal = in_newest & flagged & (F.col("newest_fetched_at") <= removed_at)
    # Missing from every listing of the batch and already flagged: the removal predates them.
    still_gone = ~in_newest & flagged & F.col("last_rank").isNull()
    keep = not_after_removal | still_gone
    return judged.select(
        "_id",
        F.when(keep, F.col("in_source")).otherwise(in_newest).alias("in_source"),
        F.when(keep, F.coalesce(removed_at, F.col("missed_at")))
        .when(in_newest, F.lit(None).cast("timestamp"))
        .otherwise(F.col("missed_at"))
        .alias("removed_from_source_at"),
    )


def with_source_state(rows: DataFrame, states: DataFrame) -> DataFrame:
    """Dimension rows with their source state; a member no complete listing judged yet was in
    the listing that brought it, so it is in the source."""
    joined = rows.join(states, "_id", "left")
    return joined.withColumn("in_source", F.coalesce(F.col("in_source"), F.lit(True)))


def changed_states(before: DataFrame, after: DataFrame) -> DataFrame:
    """The rows of `after` (`SOURCE_STATE`) whose state differs from `before` (same schema)."""
    old = before.select("_id", *[F.col(name).alias(f"old_{name}") for name in STATE_COLUMNS])
    return (
        after.join(old, "_id", "left").filter(_differs(STATE_COLUMNS)).select("_id", *STATE_COLUMNS)
    )


def _differs(columns: list[str]) -> Column:
    unchanged = [F.col(name).eqNullSafe(F.col(f"old_{name}")) for name in columns]
    return ~reduce(lambda left, right: left & right, unchanged)
