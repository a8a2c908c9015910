"""Explicit Spark schemas of the Genesys payloads the curate job reads.

Declared, never inferred: inference needs a sample (`$sample` is missing on some MongoDB-wire
servers) and changes with the data. Every id field is declared as a string, on purpose: when
such a field holds a JSON array (as `divisionIds` and `requestedRoutingSkillIds` do, or as a
flattened export's stringified array does), `from_json` hands over its JSON text, which
`jobs.transforms.ids` turns into clean ids.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    LongType,
    StringType,
    StructField,
    StructType,
)


def _strings(*names: str) -> list[StructField]:
    return [StructField(name, StringType()) for name in names]


METRIC = StructType([*_strings("name", "emitDate"), StructField("value", LongType())])

SEGMENT = StructType(
    [
        *_strings(
            "segmentStart",
            "segmentEnd",
            "segmentType",
            "queueId",
            "requestedRoutingSkillIds",
            "disconnectType",
            "wrapUpCode",
            "errorCode",
        ),
        StructField("conference", BooleanType()),
    ]
)

SESSION = StructType(
    [
        *_strings("sessionId", "mediaType", "direction", "selectedAgentId", "peerId"),
        StructField("segments", ArrayType(SEGMENT)),
        StructField("metrics", ArrayType(METRIC)),
    ]
)

PARTICIPANT = StructType(
    [
        *_strings("participantId", "purpose", "userId"),
        StructField("sessions", ArrayType(SESSION)),
    ]
)

# Customer details (ani, dnis, participantName, wrapUpNote) are not read at all: the DWH holds
# no personal data of customers, and what is never parsed cannot leak downstream.
CONVERSATION = StructType(
    [
        *_strings(
            "conversationId",
            "conversationStart",
            "conversationEnd",
            "originatingDirection",
            "divisionIds",
        ),
        StructField("participants", ArrayType(PARTICIPANT)),
    ]
)

_DIVISION_REF = StructType(_strings("id", "name"))

USER = StructType(
    [
        *_strings("id", "name", "state", "title", "department", "dateModified"),
        StructField("division", _DIVISION_REF),
    ]
)

QUEUE = StructType(
    [
        *_strings("id", "name", "description", "dateModified", "skillEvaluationMethod"),
        StructField("division", _DIVISION_REF),
    ]
)

SKILL = StructType(_strings("id", "name", "state", "dateModified"))

WRAPUP_CODE = StructType(
    [*_strings("id", "name", "dateModified"), StructField("division", _DIVISION_REF)]
)

DIVISION = StructType(
    [*_strings("id", "name", "description"), StructField("homeDivision", BooleanType())]
)

# A payload that is not valid JSON keeps its text here instead of turning into a row of nulls
# that would pass for a record with missing fields.
CORRUPT_RECORD = "_corrupt_record"


def with_corrupt_record(schema: StructType) -> StructType:
    """`schema` plus the column where `from_json` puts malformed input."""
    return StructType([*schema.fields, StructField(CORRUPT_RECORD, StringType())])


def parse_payload(payload: Column, schema: StructType) -> Column:
    """Parse JSON text with an explicit schema; malformed text shows in `_corrupt_record`."""
    return F.from_json(
        payload,
        with_corrupt_record(schema),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD},
    )


def is_malformed(parsed: Column) -> Column:
    """True where `parse_payload` could not read the text as a JSON object."""
    return parsed.isNull() | parsed[CORRUPT_RECORD].isNotNull()
