"""Raw-layer retention against the real local server: the TTL index (or the warning when the
server refuses it) and the `purge-raw` command."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.config import load_config, parse_instant
from app.main import main
from app.pipeline import prepare_stores
from connectors.mongo.raw_store import RAW_ENDPOINTS, RETENTION_INDEX, RawStore
from tests.integration.conftest import DbNames

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = (NOW - timedelta(days=40)).isoformat().replace("+00:00", "Z")
RECENT = (NOW - timedelta(days=1)).isoformat().replace("+00:00", "Z")


def _row(endpoint: str, entity: str, payload: dict[str, Any], fetched: str) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "entity_id": entity,
        "payload": json.dumps(payload),
        "batch_key": fetched,
        "window_start": fetched,
        "window_end": fetched,
        "fetched_at": fetched,
    }


def _control(interval_start: str, fetched: str) -> dict[str, Any]:
    stats = {"endpoint": "conversations", "interval_start": interval_start, "requests": 1}
    return {**_row("_control", "", stats, fetched), "batch_key": interval_start}


@pytest.fixture
def store(mongo_uri: str, fresh_db_names: DbNames) -> Iterator[RawStore]:
    raw = RawStore(mongo_uri, fresh_db_names.raw)
    raw.ensure_indexes()
    # c-old: one version, seen 40 days ago; c-both: an old version and a recent one;
    # c-new: seen yesterday; u-old: a user listed 40 days ago; two capture control records.
    raw.land(
        [
            _row("conversations", "c-old", {"conversationId": "c-old"}, OLD),
            _row("conversations", "c-both", {"conversationId": "c-both", "v": 1}, OLD),
            _row("users", "u-old", {"id": "u-old"}, OLD),
            _control("old-window", OLD),
        ],
        1,
    )
    raw.land(
        [
            _row("conversations", "c-both", {"conversationId": "c-both", "v": 2}, RECENT),
            _row("conversations", "c-new", {"conversationId": "c-new"}, RECENT),
            _control("recent-window", RECENT),
        ],
        2,
    )
    # The capture control table (one record per batch) ages out the same way.
    for batch_key, fetched in (("old-batch", OLD), ("recent-batch", RECENT)):
        raw.record_capture_control({"_id": batch_key, "recorded_at": parse_instant(fetched)})
    yield raw
    raw.close()


def _purge_env(monkeypatch: pytest.MonkeyPatch, mongo_uri: str, names: DbNames) -> None:
    for name in ("MONGO_RAW_URI", "MONGO_RAW_URI_FILE", "MONGO_URI_FILE", "GENESYS_ETL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MONGO_URI", mongo_uri)
    monkeypatch.setenv("MONGO_RAW_DATABASE", names.raw)
    monkeypatch.delenv("GENESYS_CLIENT_ID", raising=False)


def _remaining(store: RawStore) -> dict[str, list[str]]:
    return {
        # entity id and payload version ("-" for entities with a single version)
        "conversations": sorted(
            f"{d['entity_id']}:{d['payload'].get('v', '-')}" for d in store.db.conversations.find()
        ),
        "users": sorted(d["entity_id"] for d in store.db.users.find()),
        "capture_windows": sorted(d["batch_key"] for d in store.db.capture_windows.find()),
        "capture_control": sorted(d["_id"] for d in store.db.capture_control.find()),
    }


EXPECTED_COUNTS = {
    "conversations": 2,
    "users": 1,
    "queues": 0,
    "skills": 0,
    "wrapup_codes": 0,
    "divisions": 0,
    "capture_windows": 1,
    "capture_control": 1,
    "payload_chunks": 0,
}


def test_purge_raw_dry_run_counts_and_deletes_nothing(
    store: RawStore,
    mongo_uri: str,
    fresh_db_names: DbNames,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _purge_env(monkeypatch, mongo_uri, fresh_db_names)
    before = _remaining(store)
    code = main(["purge-raw", "--older-than-days", "30", "--dry-run"])
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"purge-raw: {name}: would delete {count}" for name, count in EXPECTED_COUNTS.items()
    ]
    assert _remaining(store) == before


def test_purge_raw_deletes_versions_and_control_records_older_than_n_days(
    store: RawStore,
    mongo_uri: str,
    fresh_db_names: DbNames,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _purge_env(monkeypatch, mongo_uri, fresh_db_names)
    code = main(["purge-raw", "--older-than-days", "30"])
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"purge-raw: {name}: deleted {count}" for name, count in EXPECTED_COUNTS.items()
    ]
    assert _remaining(store) == {
        "conversations": ["c-both:2", "c-new:-"],
        "users": [],
        "capture_windows": ["recent-window"],
        "capture_control": ["recent-batch"],
    }
    assert store.db.ingest_batches.count_documents({}) == 0  # land() writes no marker


def test_purge_raw_second_run_deletes_nothing(
    store: RawStore, mongo_uri: str, fresh_db_names: DbNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    _purge_env(monkeypatch, mongo_uri, fresh_db_names)
    store.purge_older_than(NOW - timedelta(days=30))
    assert store.purge_older_than(NOW - timedelta(days=30)) == dict.fromkeys(EXPECTED_COUNTS, 0)


def _is_ferretdb(store: RawStore) -> bool:
    return "ferretdbVersion" in store.client.admin.command("buildInfo")


def test_prepare_stores_retention_ttl_or_one_warning(
    store: RawStore,
    mongo_uri: str,
    fresh_db_names: DbNames,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {
        "MONGO_URI": mongo_uri,
        "MONGO_RAW_DATABASE": fresh_db_names.raw,
        "MONGO_DWH_DATABASE": fresh_db_names.dwh,
        "RAW_RETENTION_DAYS": "30",
    }
    config = load_config(env=env, require_api=False)
    with caplog.at_level(logging.WARNING):
        prepare_stores(config)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    with_ttl = [
        name
        for name in RAW_ENDPOINTS
        if store.db[name].index_information().get(RETENTION_INDEX, {}).get("expireAfterSeconds")
        == 30 * 86_400
    ]
    if _is_ferretdb(store):
        assert (with_ttl, len(warnings)) == ([], 1)
        assert "purge-raw --older-than-days 30" in warnings[0]
    else:
        assert (with_ttl, warnings) == (list(RAW_ENDPOINTS), [])


def test_ensure_retention_zero_days_keeps_forever_and_refuses_nothing(store: RawStore) -> None:
    assert store.ensure_retention(0) == []
    assert [n for n in RAW_ENDPOINTS if RETENTION_INDEX in store.db[n].index_information()] == []
