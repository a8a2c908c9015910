"""The local MongoDB-wire server answers and keeps the guarantees the ETL relies on."""

from __future__ import annotations

import pytest
from pymongo import ASCENDING, MongoClient
from pymongo.errors import DuplicateKeyError

from scripts.localmongo import mask_uri
from tests.integration.conftest import DbNames

pytestmark = pytest.mark.integration


def test_localmongo_ping_answers_ok(mongo_client: MongoClient[dict[str, object]]) -> None:
    assert mongo_client.admin.command("ping")["ok"] == 1.0


def test_localmongo_upsert_same_id_twice_keeps_one_document(
    mongo_client: MongoClient[dict[str, object]], fresh_db_names: DbNames
) -> None:
    raw = mongo_client[fresh_db_names.raw]["conversations"]

    raw.replace_one({"_id": "conv-1"}, {"_id": "conv-1", "version": 1}, upsert=True)
    raw.replace_one({"_id": "conv-1"}, {"_id": "conv-1", "version": 2}, upsert=True)

    assert raw.count_documents({}) == 1
    assert raw.find_one({"_id": "conv-1"}) == {"_id": "conv-1", "version": 2}


def test_localmongo_unique_index_duplicate_key_is_rejected(
    mongo_client: MongoClient[dict[str, object]], fresh_db_names: DbNames
) -> None:
    facts = mongo_client[fresh_db_names.dwh]["fact_segment"]
    facts.create_index([("segment_key", ASCENDING)], unique=True, name="uq_segment_key")
    facts.insert_one({"segment_key": "conv-1/seg-0", "duration_ms": 1200})

    with pytest.raises(DuplicateKeyError):
        facts.insert_one({"segment_key": "conv-1/seg-0", "duration_ms": 9999})

    assert facts.count_documents({}) == 1
    assert facts.find_one({}, {"_id": 0}) == {"segment_key": "conv-1/seg-0", "duration_ms": 1200}


def test_localmongo_fresh_db_names_are_unique_and_prefixed(fresh_db_names: DbNames) -> None:
    assert fresh_db_names.raw.startswith("raw_")
    assert fresh_db_names.dwh.startswith("dwh_")
    assert fresh_db_names.raw[4:] == fresh_db_names.dwh[4:]
    assert len(fresh_db_names.raw) == len("raw_") + 8


def test_localmongo_mask_uri_hides_credentials() -> None:
    assert (
        mask_uri("mongodb://etl:s3cret@127.0.0.1:27017/raw") == "mongodb://***@127.0.0.1:27017/raw"
    )
    assert mask_uri("mongodb://127.0.0.1:27017/") == "mongodb://127.0.0.1:27017/"
