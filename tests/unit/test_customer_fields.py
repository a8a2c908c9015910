"""Privacy policy in curate: customer identifiers dropped or keyed-hashed, wrap-up notes opt-in,
and the hash key never in a Spark plan."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from app.config import PrivacySettings, Secret
from connectors.mongo.raw_source import RAW_VERSION_SCHEMA
from jobs.star.conversations import build_conversation_facts
from jobs.star.customer_fields import with_customer_fields
from jobs.transforms.keyed_hash import hmac_sha256, key_pads, with_key_pads
from jobs.transforms.timestamps import parse_utc_instant

HASH_KEY = "k3y-Recognisable-Privacy-0042"
PHONE = "tel:+15551234567"
HASH_POLICY = PrivacySettings("hash", False, Secret(HASH_KEY))


def _hmac(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def _record() -> dict[str, Any]:
    """An ended voice call: a customer with ani/dnis/name, an agent with two wrap-up segments."""
    return {
        "conversationId": "c-1",
        "conversationStart": "2024-03-05T10:00:00.000Z",
        "conversationEnd": "2024-03-05T10:06:00.000Z",
        "participants": [
            {
                "purpose": "acd",
                "participantName": "Sales queue",
                "sessions": [{"mediaType": "voice", "ani": "tel:+10000000000", "segments": []}],
            },
            {
                "purpose": " Customer ",
                "participantName": "  Zoe Example ",
                "sessions": [
                    {
                        "mediaType": "voice",
                        "ani": f" {PHONE.upper()} ",
                        "dnis": "tel:+18005550100",
                        "segments": [
                            {"segmentStart": "2024-03-05T10:00:00.000Z", "segmentType": "interact"}
                        ],
                    },
                    {"mediaType": "voice", "ani": "tel:+19999999999", "segments": []},
                ],
            },
            {
                "purpose": "agent",
                "userId": "U-7",
                "sessions": [
                    {
                        "mediaType": "voice",
                        "segments": [
                            {
                                "segmentStart": "2024-03-05T10:05:30.000Z",
                                "segmentType": "wrapup",
                                "wrapUpCode": "W-2",
                                "wrapUpNote": "second note",
                            },
                            {
                                "segmentStart": "2024-03-05T10:05:00.000Z",
                                "segmentType": "wrapup",
                                "wrapUpCode": "W-1",
                                "wrapUpNote": "first note",
                            },
                        ],
                    }
                ],
            },
        ],
    }


def _versions(spark: Any, record: dict[str, Any]) -> DataFrame:
    seen = "2024-03-05T10:07:00.000Z"
    row = ("conversations", "r-1", "c-1", "B1", seen, seen, json.dumps(record), "B9", 9)
    frame = spark.createDataFrame([row], RAW_VERSION_SCHEMA)
    return frame.withColumn("first_seen_at", parse_utc_instant(F.col("first_seen_at"))).withColumn(
        "last_seen_at", parse_utc_instant(F.col("last_seen_at"))
    )


def _facts(spark: Any, policy: PrivacySettings, record: dict[str, Any] | None = None) -> DataFrame:
    versions = _versions(spark, record or _record())
    calls = build_conversation_facts(versions).calls
    return with_customer_fields(calls, versions, policy)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(HASH_KEY, id="short"),
        pytest.param("x" * 100, id="longer-than-a-block"),
        pytest.param("clé-ünïcode-0123456789", id="unicode"),
    ],
)
def test_hmac_sha256_spark_columns_match_python_hmac(spark: Any, key: str) -> None:
    values = spark.createDataFrame([(PHONE,), ("Zoé",), (None,)], "v string")
    rows = with_key_pads(values, key).select(hmac_sha256(F.col("v")).alias("h")).collect()
    assert [row["h"] for row in rows] == [_hmac(key, PHONE), _hmac(key, "Zoé"), None]


def test_customer_fields_default_policy_adds_no_column(spark: Any) -> None:
    versions = _versions(spark, _record())
    calls = build_conversation_facts(versions).calls
    assert with_customer_fields(calls, versions, PrivacySettings()).columns == calls.columns


def test_customer_fields_hash_policy_hashes_first_customer_session_normalised(spark: Any) -> None:
    row = _facts(spark, HASH_POLICY).collect()[0]
    assert {
        k: row[k] for k in ("customer_ani_hash", "customer_dnis_hash", "customer_name_hash")
    } == {
        "customer_ani_hash": _hmac(HASH_KEY, PHONE),
        "customer_dnis_hash": _hmac(HASH_KEY, "tel:+18005550100"),
        "customer_name_hash": _hmac(HASH_KEY, "zoe example"),
    }
    assert "wrapup_note" not in row.asDict()


def test_customer_fields_hash_policy_without_customer_gives_null_hashes(spark: Any) -> None:
    record = _record()
    record["participants"] = [p for p in record["participants"] if p["purpose"] != " Customer "]
    row = _facts(spark, HASH_POLICY, record).collect()[0]
    assert (row["customer_ani_hash"], row["customer_dnis_hash"], row["customer_name_hash"]) == (
        None,
        None,
        None,
    )


def test_customer_fields_keep_notes_takes_the_last_wrapup_segment(spark: Any) -> None:
    rows = _facts(spark, PrivacySettings("drop", True)).collect()
    assert [(row["_id"], row["wrapup_note"]) for row in rows] == [("c-1", "second note")]
    assert "customer_ani_hash" not in rows[0].asDict()


@pytest.mark.parametrize("adaptive", ["false", "true"])
def test_customer_fields_hash_key_absent_from_explained_plans(
    spark: Any, capsys: pytest.CaptureFixture[str], adaptive: str
) -> None:
    previous = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", adaptive)
    try:
        facts = _facts(spark, PrivacySettings("hash", True, Secret(HASH_KEY)))
        facts.explain(extended=True)
        facts.collect()  # an adaptive plan prints its final form only after running
        facts.explain(mode="formatted")
        plans = capsys.readouterr().out
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", previous)
    inner, outer = key_pads(HASH_KEY)
    forms = [HASH_KEY, HASH_KEY.encode().hex(), inner.hex(), outer.hex(), repr(list(inner))[:40]]
    assert "customer_ani_hash" in plans
    assert [form for form in forms if form.lower() in plans.lower()] == []


def test_customer_fields_policy_repr_masks_the_key() -> None:
    assert HASH_KEY not in repr(HASH_POLICY) + str(HASH_POLICY)
