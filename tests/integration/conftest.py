"""Integration fixtures: one MongoDB-wire server per test session, fresh databases per test.

The server is whatever `scripts.localmongo` picks on this machine (MONGO_URI, mongod, Docker or
FerretDB). Tests get unique database names and those databases are dropped afterwards, so tests
never see each other's data, even against a shared MONGO_URI server.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from pymongo import MongoClient

from scripts.localmongo import mask_uri, start_local_mongo

logger = logging.getLogger(__name__)


class DbNames(NamedTuple):
    """The raw (landing) and dwh (star schema) database names of one test."""

    raw: str
    dwh: str


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of the session's MongoDB-wire server (started here unless MONGO_URI is set)."""
    state_dir: Path = tmp_path_factory.mktemp("localmongo")
    server = start_local_mongo(state_dir)
    logger.info("tests use %s server at %s", server.kind, mask_uri(server.uri))
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[MongoClient[dict[str, object]]]:
    """A pymongo client for the session's server, with UTC-aware datetimes."""
    client: MongoClient[dict[str, object]] = MongoClient(
        mongo_uri, tz_aware=True, serverSelectionTimeoutMS=10_000
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fresh_db_names(mongo_client: MongoClient[dict[str, object]]) -> Iterator[DbNames]:
    """Unique ``raw_<hex8>`` / ``dwh_<hex8>`` database names, dropped after the test."""
    suffix = uuid.uuid4().hex[:8]
    names = DbNames(raw=f"raw_{suffix}", dwh=f"dwh_{suffix}")
    try:
        yield names
    finally:
        for name in names:
            mongo_client.drop_database(name)
