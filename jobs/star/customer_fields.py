"""Customer fields of `fact_call` that the privacy policy allows, and nothing more.

The conversation builder never parses customer data (`jobs.schemas.CONVERSATION` leaves it
out). Only when the policy asks for it does this module read the few private fields, from the
best version of each conversation, with a schema of its own:

- `customer_identifiers = "hash"`: `customer_ani_hash`, `customer_dnis_hash` and
  `customer_name_hash`, HMAC-SHA256 (hex) of the trimmed, lower-cased `ani`, `dnis` and
  `participantName` of the first customer or external participant's first session;
- `keep_wrapup_notes = true`: `wrapup_note`, the `wrapUpNote` of the last wrap-up segment.

With the default policy the facts are returned untouched: the fields are absent.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

from app.config import PrivacySettings
from jobs.schemas import parse_payload
from jobs.transforms.keyed_hash import hmac_sha256, with_key_pads, without_key_pads
from jobs.transforms.strings import clean_code, clean_string
from jobs.transforms.timestamps import parse_utc_instant


def _strings(*names: str) -> list[StructField]:
    return [StructField(name, StringType()) for name in names]


_PRIVATE_SEGMENT = StructType(_strings("segmentStart", "segmentType", "wrapUpCode", "wrapUpNote"))
_PRIVATE_SESSION = StructType(
    [*_strings("ani", "dnis"), StructField("segments", ArrayType(_PRIVATE_SEGMENT))]
)
_PRIVATE_PARTICIPANT = StructType(
    [
        *_strings("purpose", "participantName"),
        StructField("sessions", ArrayType(_PRIVATE_SESSION)),
    ]
)
# Only the private fields: parsed here, and only when the policy lets them through.
PRIVATE_CONVERSATION = StructType([StructField("participants", ArrayType(_PRIVATE_PARTICIPANT))])
HASHED_IDENTIFIERS = {
    "customer_ani_hash": "ani",
    "customer_dnis_hash": "dnis",
    "customer_name_hash": "participantName",
}


def _identifiers(private: DataFrame) -> DataFrame:
    """Per raw version, the normalised customer identifiers (plain text, never written)."""
    customers = F.filter(
        "_private.participants",
        lambda p: clean_code(p["purpose"]).isin("customer", "external"),
    )
    customer = F.get(customers, 0)
    session = F.get(customer["sessions"], 0)
    fields = {
        "ani": session["ani"],
        "dnis": session["dnis"],
        "participantName": customer["participantName"],
    }
    return private.select(
        "raw_id",
        *[
            clean_code(fields[source], default=None).alias(f"_plain_{column}")
            for column, source in HASHED_IDENTIFIERS.items()
        ],
    )


def _wrapup_notes(private: DataFrame) -> DataFrame:
    """Per raw version, the note of the last segment that carries a wrap-up code or note."""
    segments = (
        private.select("raw_id", F.explode("_private.participants").alias("p"))
        .select("raw_id", F.explode("p.sessions").alias("s"))
        .select("raw_id", F.explode("s.segments").alias("g"))
    )
    is_wrapup = (
        (clean_code(F.col("g.segmentType")) == "wrapup")
        | F.col("g.wrapUpCode").isNotNull()
        | F.col("g.wrapUpNote").isNotNull()
    )
    return segments.groupBy("raw_id").agg(
        F.max_by(
            clean_string(F.col("g.wrapUpNote")),
            F.when(is_wrapup, parse_utc_instant(F.col("g.segmentStart"))),
        ).alias("wrapup_note")
    )


def with_customer_fields(
    facts: DataFrame, versions: DataFrame, policy: PrivacySettings
) -> DataFrame:
    """Add the customer fields `policy` allows to `fact_call` rows (matched on `raw_id`).

    Args:
        facts: `fact_call` rows that still carry `raw_id`.
        versions: the raw conversation versions the facts were built from (`raw_id`, `payload`).
        policy: the privacy settings; with the defaults, `facts` is returned as it is.
    """
    hashing = policy.customer_identifiers == "hash"
    if not hashing and not policy.keep_wrapup_notes:
        return facts
    private = versions.select(
        "raw_id", parse_payload(F.col("payload"), PRIVATE_CONVERSATION).alias("_private")
    ).join(facts.select("raw_id"), "raw_id", "left_semi")
    if hashing:
        if policy.hash_key is None:
            raise ValueError("customer_identifiers = hash needs a hash key")
        plain = with_key_pads(_identifiers(private), policy.hash_key.reveal())
        # Only the hashes leave this select: the plain values and the pads stay behind.
        hashed = without_key_pads(
            plain.select(
                "raw_id",
                *[hmac_sha256(F.col(f"_plain_{name}")).alias(name) for name in HASHED_IDENTIFIERS],
            )
        )
        facts = facts.join(hashed, "raw_id", "left")
    if policy.keep_wrapup_notes:
        facts = facts.join(_wrapup_notes(private), "raw_id", "left")
    return facts
