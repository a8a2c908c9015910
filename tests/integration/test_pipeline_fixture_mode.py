"""End to end in fixture mode: the recorded web-chat conversation of the Genesys blueprint,
served by the simulator, goes through capture and curate and lands once in the star schema."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from simulator.server import SimulatorConfig, start_simulator
from tests.support.pipeline import PipelineRun, run_bounded

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "genesys"
CHAT_ID = "1bc96a39-6725-40c4-9345-db72aa67b8c6"
START = datetime(2021, 4, 1, 12, 0, tzinfo=UTC)
END = datetime(2021, 4, 1, 13, 0, tzinfo=UTC)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fixture_runs(
    spark: Any, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Run the pipeline twice over the same range and database, with fresh checkpoints."""
    work = tmp_path_factory.mktemp("fixture-mode")
    secret = secrets.token_urlsafe(16)
    secret_file = work / "secret"
    secret_file.write_text(secret)
    suffix = secrets.token_hex(4)
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    config = SimulatorConfig(client_id="fixture-test", client_secret=secret, fixtures_dir=FIXTURES)
    snapshots = []
    quality: list[list[dict[str, Any]]] = []
    curated: list[list[int]] = []
    codes = []
    with start_simulator(config) as simulator:
        for attempt in (1, 2):
            run = PipelineRun(
                api_url=simulator.base_url,
                client_id="fixture-test",
                secret_file=secret_file,
                mongo_uri=mongo_uri,
                raw_database=f"raw_{suffix}",
                dwh_database=f"dwh_{suffix}",
                start=START,
                end=END,
                checkpoints=work / f"checkpoints-{attempt}",
            )
            codes.append(run_bounded(spark, run))
            dwh = client[run.dwh_database]
            quality.append(list(dwh.dq_results.find({}, {"checked_at": 0}).sort("_id", 1)))
            curated.append([doc["_id"] for doc in dwh.curate_batches.find({}, {"_id": 1})])
            snapshots.append(
                {
                    name: list(dwh[name].find({}).sort("_id", 1))
                    for name in dwh.list_collection_names()
                    # Logs of each curate batch: a second run adds its own.
                    if name not in ("curate_batches", "dq_results")
                }
            )
    try:
        yield {
            "codes": codes,
            "first": snapshots[0],
            "second": snapshots[1],
            "quality": quality,
            "curated": curated,
        }
    finally:
        client.drop_database(f"raw_{suffix}")
        client.drop_database(f"dwh_{suffix}")
        client.close()


def test_pipeline_fixture_chat_runs_exit_zero(fixture_runs: dict[str, Any]) -> None:
    assert fixture_runs["codes"] == [0, 0]


def test_pipeline_fixture_chat_lands_as_one_fact_call(fixture_runs: dict[str, Any]) -> None:
    facts = fixture_runs["first"]["fact_call"]
    assert [fact["_id"] for fact in facts] == [CHAT_ID]


def test_pipeline_fixture_chat_fact_has_queue_agent_and_times(
    fixture_runs: dict[str, Any],
) -> None:
    fact = fixture_runs["first"]["fact_call"][0]
    expected = {
        "conversation_id": CHAT_ID,
        "conversation_start": datetime(2021, 4, 1, 12, 27, 53, 386000, tzinfo=UTC),
        "conversation_end": datetime(2021, 4, 1, 12, 43, 23, 306000, tzinfo=UTC),
        "date_key": 20210401,
        "hour": 12,
        "duration_ms": 929920,
        "direction": "inbound",
        "media_type": "chat",
        "division_id": "1b6b98a6-3d70-47be-9406-61a5aa8cc570",
        "first_queue_id": "a623d83c-96d7-4baa-af1f-d46ad6700d8b",
        "last_queue_id": "a623d83c-96d7-4baa-af1f-d46ad6700d8b",
        "agent_id": "50fcd33c-f432-4726-abc9-979f3ca01555",
        "wrapup_code": None,
        "answered": True,
        "abandoned": False,
        "transferred": False,
        "wait_ms": 11179,
        "alert_ms": 11050,
        "n_offered": 1,
        "state": "final",
        "is_final": True,
    }
    assert {key: fact.get(key) for key in expected} == expected


def test_pipeline_fixture_unlisted_ids_point_to_unknown_members(
    fixture_runs: dict[str, Any],
) -> None:
    fact = fixture_runs["first"]["fact_call"][0]
    # The recorded queue, agent and division are in none of the recorded listings.
    keys = {k: fact[k] for k in ("last_queue_key", "agent_key", "division_key", "wrapup_key")}
    assert keys == {
        "last_queue_key": "unknown",
        "agent_key": "unknown",
        "division_key": "unknown",
        "wrapup_key": "unknown",
    }


def test_pipeline_fixture_listings_land_in_dimensions(fixture_runs: dict[str, Any]) -> None:
    users = {doc["_id"]: doc for doc in fixture_runs["first"]["dim_user"]}
    assert sorted(users) == ["06ffcd2e-1ada-412e-a5f5-30d7853246dd", "unknown"]
    assert users["06ffcd2e-1ada-412e-a5f5-30d7853246dd"]["name"] == "Agent Alpha"
    assert users["06ffcd2e-1ada-412e-a5f5-30d7853246dd"]["is_active"] is True
    divisions = sorted(doc["_id"] for doc in fixture_runs["first"]["dim_division"])
    assert divisions == [
        "c4f759db-6269-4b1e-8074-67d47ed44c15",
        "e2a78444-8876-4398-a0e5-f6fd21e3698a",
        "unknown",
    ]


def test_pipeline_fixture_fact_carries_audit_fields(fixture_runs: dict[str, Any]) -> None:
    fact = fixture_runs["first"]["fact_call"][0]
    assert fact["etl_transform_version"] == "2026.12.1"
    assert fact["etl_batch"] == "2021-04-01T13:00:00.000Z"
    assert fact["etl_raw_version"].startswith(CHAT_ID + ":")
    assert fact["etl_first_loaded_at"] is not None


def test_pipeline_fixture_second_run_changes_no_dwh_document(
    fixture_runs: dict[str, Any],
) -> None:
    # Same content, so nothing is written again: not even the write stamps move.
    assert fixture_runs["second"] == fixture_runs["first"]


def test_pipeline_fixture_quality_results_every_rule_passes_and_versions_reconcile(
    fixture_runs: dict[str, Any],
) -> None:
    first_run = fixture_runs["quality"][0]
    assert sorted({doc["rule"] for doc in first_run}) == [
        "dimension_keys_resolve",
        "end_not_before_start",
        "keys_not_null",
        "known_values",
        "metrics_not_negative",
        "raw_versions_accounted",
        "unique_keys",
    ]
    assert [doc["_id"] for doc in first_run if doc["failures"] != 0] == []
    # The fixtures hold 9 entities, each in one version: 1 conversation, 2 divisions, 1 queue,
    # 2 skills, 1 user, 2 wrap-up codes; all are curated, none superseded or quarantined.
    accounted = [
        {k: doc[k] for k in ("read", "curated_entities", "superseded_versions", "quarantined")}
        for doc in first_run
        if doc["rule"] == "raw_versions_accounted"
    ]
    assert accounted == [
        {"read": 9, "curated_entities": 9, "superseded_versions": 0, "quarantined": 0}
    ]


def test_pipeline_fixture_second_run_really_curates_again(fixture_runs: dict[str, Any]) -> None:
    # Fresh checkpoints recapture the same range; the new landing must be curated, not skipped
    # because markers of the first run already name the same raw batch.
    first, second = fixture_runs["curated"]
    assert len(second) > len(first)
    assert max(second) > max(first)
