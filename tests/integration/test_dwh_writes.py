"""DWH writes against a real MongoDB-wire server: new documents inserted, changed ones
replaced, unchanged ones left alone with their write stamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import MongoClient

from connectors.mongo.dwh_store import CONTENT_HASH, write_changes, write_updates
from tests.integration.conftest import DbNames

pytestmark = pytest.mark.integration

FIRST = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
SECOND = datetime(2026, 12, 4, 10, 2, tzinfo=UTC)


def _queues(spark: Any, rows: list[tuple[str, str, str, datetime]]) -> Any:
    schema = "_id string, name string, etl_batch string, etl_last_updated_at timestamp"
    return spark.createDataFrame(rows, schema)


def _stored(client: MongoClient[dict[str, Any]], database: str) -> dict[str, tuple[Any, ...]]:
    return {
        doc["_id"]: (doc["name"], doc["etl_batch"], doc.get(CONTENT_HASH) is not None)
        for doc in client[database]["dim_queue"].find()
    }


def test_dwh_write_changes_inserts_new_replaces_changed_leaves_unchanged(
    spark: Any, mongo_uri: str, fresh_db_names: DbNames
) -> None:
    first = _queues(spark, [("q-1", "Sales", "B1", FIRST), ("q-2", "Support", "B1", FIRST)])
    second = _queues(
        spark,
        [
            ("q-1", "Sales", "B2", SECOND),  # same content, new stamps: not written
            ("q-2", "Support EMEA", "B2", SECOND),  # renamed: replaced
            ("q-3", "Billing", "B2", SECOND),  # new: inserted
        ],
    )
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        counts_first = write_changes(first, mongo_uri, fresh_db_names.dwh, "dim_queue")
        counts_second = write_changes(second, mongo_uri, fresh_db_names.dwh, "dim_queue")
        stored = _stored(client, fresh_db_names.dwh)
    finally:
        client.close()
    assert counts_first == {"inserted": 2, "replaced": 0, "unchanged": 0}
    assert counts_second == {"inserted": 1, "replaced": 1, "unchanged": 1}
    assert stored == {
        "q-1": ("Sales", "B1", True),
        "q-2": ("Support EMEA", "B2", True),
        "q-3": ("Billing", "B2", True),
    }


def test_dwh_updated_document_is_written_again_even_with_its_old_content(
    spark: Any, mongo_uri: str, fresh_db_names: DbNames
) -> None:
    """A partial update clears the hash: the stored document no longer holds what it hashed,
    so writing the original content again must restore it rather than be skipped."""
    original = _queues(spark, [("q-1", "Sales", "B1", FIRST)])
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        write_changes(original, mongo_uri, fresh_db_names.dwh, "dim_queue")
        renamed = spark.createDataFrame([("q-1", "Renamed by hand")], "_id string, name string")
        write_updates(renamed, mongo_uri, fresh_db_names.dwh, "dim_queue")
        counts = write_changes(original, mongo_uri, fresh_db_names.dwh, "dim_queue")
        stored = _stored(client, fresh_db_names.dwh)
    finally:
        client.close()
    assert counts == {"inserted": 0, "replaced": 1, "unchanged": 0}
    assert stored == {"q-1": ("Sales", "B1", True)}
