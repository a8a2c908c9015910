"""Data-quality rules of the curate batch, as pure DataFrame functions.

A rule flags the rows of one frame about to be written (a fact or a dimension) that break it,
and declares what a failure does:

- `warn`: the rows are written all the same; the curate job logs a WARNING.
- `quarantine`: the rows go to the `quarantine` collection instead of the DWH, with the rule in
  the reason; the other versions of the same entity go with them, so none is left unaccounted.
- `stop`: the batch fails with `DataQualityError` naming the rule, the batch and sample ids; the
  query stops and, restarted, redoes the batch. Only invariants of this code are `stop`: bad
  input must never stop the stream.

Nothing here reads or writes MongoDB: `flag`, `summarize`, `split` and `account_versions` build
lazy frames, and the curate job runs them, stores the results in `dq_results` and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from app.errors import DataQualityError

UNKNOWN_KEY = "unknown"
SAMPLE_SIZE = 5
_FLAG_PREFIX = "_dq_"
# The rule that checks that every raw version read is curated, superseded or quarantined.
VERSIONS_ACCOUNTED = "raw_versions_accounted"


class Severity(StrEnum):
    """What a failure of the rule does to the batch."""

    WARN = "warn"
    QUARANTINE = "quarantine"
    STOP = "stop"


@dataclass(frozen=True)
class Rule:
    """One rule on one frame: `check` adds the boolean column `flag_column` (true = broken)."""

    name: str
    severity: Severity
    description: str
    check: Callable[[DataFrame, str], DataFrame]

    @property
    def flag_column(self) -> str:
        return _FLAG_PREFIX + self.name


@dataclass(frozen=True)
class RuleResult:
    """How one rule did on one collection of one batch."""

    rule: str
    severity: Severity
    collection: str
    failures: int
    sample_ids: tuple[str, ...]


def _any(conditions: Iterable[Column]) -> Column:
    return reduce(lambda left, right: left | right, conditions, F.lit(False))


def keys_not_null(keys: list[str], severity: Severity = Severity.QUARANTINE) -> Rule:
    """Every business-key column holds a value (the connector would insert a keyless row)."""

    def check(frame: DataFrame, flag: str) -> DataFrame:
        return frame.withColumn(flag, _any(F.col(key).isNull() for key in keys))

    return Rule("keys_not_null", severity, f"{', '.join(keys)} must not be null", check)


def end_not_before_start(start: str, end: str, severity: Severity = Severity.QUARANTINE) -> Rule:
    """The end instant is not before the start (an open row, end null, passes)."""

    def check(frame: DataFrame, flag: str) -> DataFrame:
        broken = F.col(end).isNotNull() & F.col(start).isNotNull() & (F.col(end) < F.col(start))
        return frame.withColumn(flag, F.coalesce(broken, F.lit(False)))

    return Rule("end_not_before_start", severity, f"{end} must not be before {start}", check)


def metrics_not_negative(columns: list[str], severity: Severity = Severity.QUARANTINE) -> Rule:
    """Durations and counts are never negative (null, no metric, passes)."""

    def check(frame: DataFrame, flag: str) -> DataFrame:
        return frame.withColumn(
            flag, _any(F.coalesce(F.col(column) < 0, F.lit(False)) for column in columns)
        )

    return Rule("metrics_not_negative", severity, "metric values must not be negative", check)


def dimension_keys_resolve(
    key_columns: dict[str, str], members: dict[str, DataFrame], severity: Severity = Severity.STOP
) -> Rule:
    """Each `*_key` names an `_id` of its dimension, or `"unknown"`.

    Args:
        key_columns: fact key column -> dimension collection, e.g. `{"agent_key": "dim_user"}`.
        members: dimension collection -> frame of its distinct `_id`s (stored and written
            this batch).
        severity: `stop` by default: key resolution guarantees it, so a failure is a bug.
    """

    def check(frame: DataFrame, flag: str) -> DataFrame:
        failing = []
        for index, (column, collection) in enumerate(key_columns.items()):
            found = f"_dq_found_{index}"
            ids = members[collection].select(F.col("_id").alias(found))
            frame = frame.join(F.broadcast(ids), F.col(column) == F.col(found), "left")
            failing.append(
                F.col(found).isNull() & (F.col(column).isNull() | (F.col(column) != UNKNOWN_KEY))
            )
        frame = frame.withColumn(flag, _any(failing))
        return frame.drop(*[f"_dq_found_{index}" for index in range(len(key_columns))])

    return Rule(
        "dimension_keys_resolve",
        severity,
        'every *_key must be a dimension _id or "unknown"',
        check,
    )


def unique_keys(keys: list[str], severity: Severity = Severity.STOP) -> Rule:
    """No two rows share a business key (the upsert would keep an arbitrary one)."""

    def check(frame: DataFrame, flag: str) -> DataFrame:
        copies = F.count(F.lit(1)).over(Window.partitionBy(*keys))
        present = ~_any(F.col(key).isNull() for key in keys)
        return frame.withColumn(flag, present & (copies > 1))

    return Rule("unique_keys", severity, f"{', '.join(keys)} must be unique", check)


def known_values(allowed: dict[str, list[str]], severity: Severity = Severity.WARN) -> Rule:
    """Enum-like columns hold a documented value; others are kept but reported (new values
    appear in Genesys over time, and a new media type is still worth counting)."""

    def check(frame: DataFrame, flag: str) -> DataFrame:
        return frame.withColumn(
            flag,
            _any(
                F.col(column).isNotNull() & ~F.col(column).isin(values)
                for column, values in allowed.items()
            ),
        )

    return Rule("known_values", severity, "enum values must be documented ones", check)


def flag(frame: DataFrame, rules: list[Rule]) -> DataFrame:
    """`frame` plus one boolean flag column per rule."""
    for rule in rules:
        frame = rule.check(frame, rule.flag_column)
    return frame


def summarize(flagged: DataFrame, rules: list[Rule], id_column: str = "_id") -> DataFrame:
    """One row: per rule, the number of failing rows and a sorted sample of their ids."""
    aggregates = []
    for rule in rules:
        failing = F.col(rule.flag_column)
        aggregates.append(F.sum(failing.cast("long")).alias(f"{rule.name}__n"))
        ids = F.collect_set(F.when(failing, F.coalesce(F.col(id_column), F.lit("(null)"))))
        aggregates.append(F.slice(F.sort_array(ids), 1, SAMPLE_SIZE).alias(f"{rule.name}__ids"))
    return flagged.agg(*aggregates)


def results(summary: dict[str, Any], rules: list[Rule], collection: str) -> list[RuleResult]:
    """The `RuleResult`s of a collected `summarize` row (as a dict)."""
    return [
        RuleResult(
            rule.name,
            rule.severity,
            collection,
            int(summary.get(f"{rule.name}__n") or 0),
            tuple(summary.get(f"{rule.name}__ids") or ()),
        )
        for rule in rules
    ]


def split(flagged: DataFrame, rules: list[Rule]) -> tuple[DataFrame, DataFrame]:
    """(rows to write, rows to quarantine with `reason`), flag columns dropped.

    A row that breaks several `quarantine` rules gets the reason of the first one listed.
    """
    blocking = [rule for rule in rules if rule.severity is Severity.QUARANTINE]
    flags = [rule.flag_column for rule in rules]
    if not blocking:
        return flagged.drop(*flags), flagged.limit(0).withColumn("reason", F.lit("")).drop(*flags)
    reason = F.coalesce(
        *[
            F.when(F.col(rule.flag_column), F.lit(rule_reason(rule.name, rule.description)))
            for rule in blocking
        ]
    )
    tagged = flagged.withColumn("reason", reason)
    kept = tagged.filter(F.col("reason").isNull()).drop("reason", *flags)
    return kept, tagged.filter(F.col("reason").isNotNull()).drop(*flags)


def rule_reason(name: str, description: str) -> str:
    """The quarantine reason of a row that broke a rule."""
    return f"data-quality rule {name} failed: {description}"


def entity_rejections(rejected_rows: DataFrame, keyed: DataFrame) -> DataFrame:
    """Quarantine records for every version of the entities whose written row was rejected.

    Args:
        rejected_rows: rows that `split` took out (`_id` = entity key, `raw_id`, `reason`).
        keyed: the batch's versions with a key (`endpoint`, `raw_id`, `entity_id`,
            `curate_batch`, `key`).

    Returns:
        (`endpoint`, `raw_id`, `entity_id`, `curate_batch`, `reason`): the rejected version
        with the rule's reason, its other versions with a reason that names the rule too.
    """
    losers = rejected_rows.select(
        F.col("_id").alias("key"), F.col("raw_id").alias("_best_raw_id"), "reason"
    )
    return keyed.join(losers, "key").select(
        "endpoint",
        "raw_id",
        "entity_id",
        "curate_batch",
        F.when(F.col("raw_id") == F.col("_best_raw_id"), F.col("reason"))
        .otherwise(F.concat(F.lit("superseded by a rejected version: "), F.col("reason")))
        .alias("reason"),
    )


def account_versions(
    read: DataFrame, used: DataFrame, keyed: DataFrame, quarantined: DataFrame
) -> DataFrame:
    """One row of counts that reconcile the raw versions a batch read.

    Args:
        read: (`endpoint`, `raw_id`) of every version read (no batch marker).
        used: (`endpoint`, `raw_id`, `_id`) of every entity row written (facts per
            conversation and dimension members; `_id` is the entity key).
        keyed: (`endpoint`, `raw_id`, `key`) of the versions that had a key.
        quarantined: (`endpoint`, `raw_id`) of the quarantine records of the batch.

    Returns:
        Columns `read`, `curated_entities`, `superseded_versions`, `quarantined`,
        `unaccounted` and `unaccounted_ids` (a sample). A version counts in the first class it
        fits: used, quarantined, superseded (another version of its key was written).
        `read == curated_entities + superseded_versions + quarantined + unaccounted`.
    """
    versions = ["endpoint", "raw_id"]
    used_ids = used.select(*versions).distinct().withColumn("_used", F.lit(True))
    quarantined_ids = quarantined.select(*versions).distinct().withColumn("_quar", F.lit(True))
    written_keys = used.select("endpoint", F.col("_id").alias("key")).distinct()
    superseded = (
        keyed.join(written_keys, ["endpoint", "key"], "left_semi")
        .select(*versions)
        .distinct()
        .withColumn("_sup", F.lit(True))
    )
    classified = (
        read.select(*versions)
        .join(used_ids, versions, "left")
        .join(quarantined_ids, versions, "left")
        .join(superseded, versions, "left")
    )
    used_flag = F.coalesce(F.col("_used"), F.lit(False))
    quar_flag = ~used_flag & F.coalesce(F.col("_quar"), F.lit(False))
    sup_flag = ~used_flag & ~quar_flag & F.coalesce(F.col("_sup"), F.lit(False))
    lost = ~used_flag & ~quar_flag & ~sup_flag
    return classified.agg(
        F.count(F.lit(1)).alias("read"),
        F.sum(used_flag.cast("long")).alias("curated_entities"),
        F.sum(sup_flag.cast("long")).alias("superseded_versions"),
        F.sum(quar_flag.cast("long")).alias("quarantined"),
        F.sum(lost.cast("long")).alias("unaccounted"),
        F.slice(F.sort_array(F.collect_set(F.when(lost, F.col("raw_id")))), 1, SAMPLE_SIZE).alias(
            "unaccounted_ids"
        ),
    )


def raise_on_stop(found: list[RuleResult], batch: str) -> None:
    """Raise `DataQualityError` for the first failed `stop` rule (the batch must not commit)."""
    for result in found:
        if result.severity is Severity.STOP and result.failures:
            raise DataQualityError(
                f"data-quality rule {result.rule} failed on {result.failures} row(s) of "
                f"{result.collection} in curate batch {batch}; sample ids: "
                f"{', '.join(result.sample_ids)}",
                rule=result.rule,
                batch=batch,
                sample_ids=list(result.sample_ids),
            )


def dq_documents(
    found: list[RuleResult], land_seq: int, batch: str, checked_at: datetime
) -> list[dict[str, Any]]:
    """One `dq_results` document per rule: failures summed over the collections it checked."""
    documents: dict[str, dict[str, Any]] = {}
    for result in found:
        document = documents.setdefault(
            result.rule,
            {
                "_id": f"{land_seq}:{result.rule}",
                "land_seq": land_seq,
                "raw_batch": batch,
                "rule": result.rule,
                "severity": str(result.severity),
                "failures": 0,
                "sample_ids": [],
                "collections": {},
                "checked_at": checked_at,
            },
        )
        document["failures"] += result.failures
        document["collections"][result.collection] = result.failures
        samples = [f"{result.collection}:{sample}" for sample in result.sample_ids]
        document["sample_ids"] = (document["sample_ids"] + samples)[:SAMPLE_SIZE]
    return list(documents.values())
