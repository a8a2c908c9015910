"""Data-quality rules of the curate batch: flags, summaries, splits, reconciliation, stops."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame

from app.errors import DataQualityError
from jobs import quality
from jobs.quality import Rule, RuleResult, Severity


def _summary(frame: DataFrame, rule: Rule) -> tuple[int, tuple[str, ...]]:
    flagged = quality.flag(frame, [rule])
    found = quality.results(quality.summarize(flagged, [rule]).first().asDict(), [rule], "t")
    return found[0].failures, found[0].sample_ids


def test_keys_not_null_null_key_fails_once(spark: Any) -> None:
    frame = spark.createDataFrame([("a", "a"), ("b", None), (None, None)], "_id string, k string")
    assert _summary(frame, quality.keys_not_null(["_id", "k"])) == (2, ("(null)", "b"))


def test_end_not_before_start_only_reversed_rows_fail(spark: Any) -> None:
    rows = [
        ("ok", datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 11)),
        ("open", datetime(2026, 1, 1, 10), None),
        ("same", datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 10)),
        ("reversed", datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 9)),
    ]
    frame = spark.createDataFrame(rows, "_id string, s timestamp, e timestamp")
    assert _summary(frame, quality.end_not_before_start("s", "e")) == (1, ("reversed",))


def test_metrics_not_negative_any_negative_column_fails(spark: Any) -> None:
    rows = [("a", 0, None), ("b", -1, 5), ("c", 3, -7), ("d", None, None)]
    frame = spark.createDataFrame(rows, "_id string, x long, y long")
    assert _summary(frame, quality.metrics_not_negative(["x", "y"])) == (2, ("b", "c"))


def test_dimension_keys_resolve_unknown_passes_missing_member_fails(spark: Any) -> None:
    members = {"dim_user": spark.createDataFrame([("u-1",), ("unknown",)], "_id string")}
    rows = [("c-1", "u-1"), ("c-2", "unknown"), ("c-3", "u-9"), ("c-4", None)]
    frame = spark.createDataFrame(rows, "_id string, agent_key string")
    rule = quality.dimension_keys_resolve({"agent_key": "dim_user"}, members)
    assert rule.severity is Severity.STOP
    assert _summary(frame, rule) == (2, ("c-3", "c-4"))


def test_unique_keys_every_copy_of_a_duplicate_fails(spark: Any) -> None:
    frame = spark.createDataFrame([("a", 1), ("a", 2), ("b", 3)], "_id string, v long")
    assert _summary(frame, quality.unique_keys(["_id"])) == (2, ("a",))


def test_known_values_new_value_warns_and_null_passes(spark: Any) -> None:
    rows = [("a", "voice"), ("b", "hologram"), ("c", None)]
    frame = spark.createDataFrame(rows, "_id string, media_type string")
    rule = quality.known_values({"media_type": ["voice", "unknown"]})
    assert rule.severity is Severity.WARN
    assert _summary(frame, rule) == (1, ("b",))


def test_split_quarantine_rule_takes_rows_out_with_first_reason(spark: Any) -> None:
    rows = [("a", 1, 2), ("b", -1, 2), ("c", -1, 1)]
    frame = spark.createDataFrame(rows, "_id string, x long, e long")
    rules = [
        quality.end_not_before_start("x", "e"),
        quality.metrics_not_negative(["x"]),
        quality.known_values({"_id": ["a"]}),  # warn: never takes a row out
    ]
    kept, rejected = quality.split(quality.flag(frame, rules), rules)
    assert [row["_id"] for row in kept.collect()] == ["a"]
    assert kept.columns == ["_id", "x", "e"]
    assert sorted((row["_id"], row["reason"]) for row in rejected.collect()) == [
        ("b", "data-quality rule metrics_not_negative failed: metric values must not be negative"),
        ("c", "data-quality rule metrics_not_negative failed: metric values must not be negative"),
    ]


def test_entity_rejections_siblings_follow_the_rejected_version(spark: Any) -> None:
    rejected = spark.createDataFrame(
        [("c-1", "r-2", "rule x")], "_id string, raw_id string, reason string"
    )
    keyed = spark.createDataFrame(
        [
            ("conversations", "r-1", "c-1", "B", "c-1"),
            ("conversations", "r-2", "c-1", "B", "c-1"),
            ("conversations", "r-3", "c-2", "B", "c-2"),
        ],
        "endpoint string, raw_id string, entity_id string, curate_batch string, key string",
    )
    records = quality.entity_rejections(rejected, keyed).collect()
    assert sorted((row["raw_id"], row["reason"]) for row in records) == [
        ("r-1", "superseded by a rejected version: rule x"),
        ("r-2", "rule x"),
    ]


def test_account_versions_each_version_in_one_class(spark: Any) -> None:
    read = spark.createDataFrame(
        [("conversations", f"r-{n}") for n in range(1, 6)], "endpoint string, raw_id string"
    )
    used = spark.createDataFrame(
        [("conversations", "r-1", "c-1")], "endpoint string, raw_id string, _id string"
    )
    keyed = spark.createDataFrame(
        [
            ("conversations", "r-1", "c-1"),
            ("conversations", "r-2", "c-1"),
            ("conversations", "r-4", "c-4"),
        ],
        "endpoint string, raw_id string, key string",
    )
    quarantined = spark.createDataFrame(
        [("conversations", "r-3")], "endpoint string, raw_id string"
    )
    row = quality.account_versions(read, used, keyed, quarantined).first().asDict()
    assert row == {
        "read": 5,
        "curated_entities": 1,
        "superseded_versions": 1,
        "quarantined": 1,
        "unaccounted": 2,
        "unaccounted_ids": ["r-4", "r-5"],
    }


def test_raise_on_stop_failed_stop_rule_names_rule_batch_and_ids() -> None:
    found = [
        RuleResult("known_values", Severity.WARN, "fact_call", 3, ("a",)),
        RuleResult("unique_keys", Severity.STOP, "fact_call", 2, ("c-1",)),
    ]
    with pytest.raises(DataQualityError) as caught:
        quality.raise_on_stop(found, "B7 (landing 7)")
    assert (caught.value.rule, caught.value.batch, caught.value.sample_ids) == (
        "unique_keys",
        "B7 (landing 7)",
        ["c-1"],
    )
    assert str(caught.value) == (
        "data-quality rule unique_keys failed on 2 row(s) of fact_call in curate batch "
        "B7 (landing 7); sample ids: c-1"
    )


def test_raise_on_stop_warn_and_zero_failures_pass() -> None:
    found = [
        RuleResult("known_values", Severity.WARN, "fact_call", 3, ("a",)),
        RuleResult("unique_keys", Severity.STOP, "fact_call", 0, ()),
    ]
    quality.raise_on_stop(found, "B1")


def test_dq_documents_one_per_rule_summed_over_collections() -> None:
    checked = datetime(2026, 12, 4, 10, 2, tzinfo=UTC)
    found = [
        RuleResult("keys_not_null", Severity.QUARANTINE, "dim_user", 1, ("u",)),
        RuleResult("keys_not_null", Severity.QUARANTINE, "fact_call", 2, ("c-1", "c-2")),
    ]
    assert quality.dq_documents(found, 42, "B42", checked) == [
        {
            "_id": "42:keys_not_null",
            "land_seq": 42,
            "raw_batch": "B42",
            "rule": "keys_not_null",
            "severity": "quarantine",
            "failures": 3,
            "sample_ids": ["dim_user:u", "fact_call:c-1", "fact_call:c-2"],
            "collections": {"dim_user": 1, "fact_call": 2},
            "checked_at": checked,
        }
    ]
