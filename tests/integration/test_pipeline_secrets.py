"""Secrets and customer data never leak: the real pipeline, in fixture mode with the `hash`
privacy policy, prints neither the client secret, the hash key nor the customer's phone number
or name, and the DWH holds only keyed hashes of them."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import shutil
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from simulator.server import SimulatorConfig, start_simulator
from tests.support.pipeline import PipelineRun, run_bounded

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "genesys"
CHAT_FIXTURE = "details-query-chat-blueprint.json"
START = datetime(2021, 4, 1, 12, 0, tzinfo=UTC)
END = datetime(2021, 4, 1, 13, 0, tzinfo=UTC)

CLIENT_SECRET = "client-secret-RECOGNISABLE-4f9c2a71"
HASH_KEY = "hash-key-RECOGNISABLE-b83e0d5c"
PHONE = "tel:+15550001234"
DNIS = "tel:+15550009876"
NAME = "Quentin Privacymann"
# Every form in which these could show up: as given, the bare digits, the lower-cased name.
NEVER_SHOWN = [CLIENT_SECRET, HASH_KEY, PHONE, "15550001234", DNIS, "15550009876", NAME]
JVM_MARKER = "jvm-stderr-is-captured-9d1f"

pytestmark = pytest.mark.integration


def _fixture_folder(tmp_path: Path) -> Path:
    """The recorded payloads, with a phone number and a name on the chat's customer."""
    folder = tmp_path / "fixtures"
    folder.mkdir()
    for path in FIXTURES.glob("*.json"):
        shutil.copy(path, folder / path.name)
    details = json.loads((FIXTURES / CHAT_FIXTURE).read_text())
    for participant in details["conversations"][0]["participants"]:
        if participant["purpose"] == "customer":
            participant["participantName"] = NAME
            participant["sessions"][0].update(ani=PHONE, dnis=DNIS)
        for session in participant["sessions"]:
            if "remote" in session:
                session["remote"] = NAME
    (folder / CHAT_FIXTURE).write_text(json.dumps(details))
    return folder


def _leaks(text: str) -> list[str]:
    return [value for value in NEVER_SHOWN if value.lower() in text.lower()]


def _hmac(value: str) -> str:
    return hmac.new(HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def test_pipeline_hash_policy_prints_no_secret_and_stores_only_hashes(
    spark: Any,
    mongo_uri: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.INFO)
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(CLIENT_SECRET)
    key_file = tmp_path / "hash-key"
    key_file.write_text(HASH_KEY + "\n")
    suffix = uuid.uuid4().hex[:8]
    run = PipelineRun(
        api_url="",
        client_id="privacy-test",
        secret_file=secret_file,
        mongo_uri=mongo_uri,
        raw_database=f"raw_{suffix}",
        dwh_database=f"dwh_{suffix}",
        start=START,
        end=END,
        checkpoints=tmp_path / "checkpoints",
        extra_env={
            "PRIVACY_CUSTOMER_IDENTIFIERS": "hash",
            "PRIVACY_HASH_KEY_FILE": str(key_file),
        },
    )
    config = SimulatorConfig(
        client_id="privacy-test",
        client_secret=CLIENT_SECRET,
        fixtures_dir=_fixture_folder(tmp_path),
    )
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        with start_simulator(config) as simulator:
            code = run_bounded(spark, replace(run, api_url=simulator.base_url))
        spark._jvm.System.err.println(JVM_MARKER)  # proves the JVM's stderr is in capfd
        spark._jvm.System.err.flush()
        raw_text = str(list(client[run.raw_database]["conversations"].find({})))
        dwh = client[run.dwh_database]
        documents = {name: list(dwh[name].find({})) for name in dwh.list_collection_names()}
    finally:
        client.drop_database(run.raw_database)
        client.drop_database(run.dwh_database)
        client.close()
    # The session's Spark JVM was started before this test, so it writes to pytest's global
    # capture, not to capfd's: read both. The marker check below proves the JVM is included.
    fixture_out, fixture_err = capfd.readouterr()
    capture_manager = request.config.pluginmanager.getplugin("capturemanager")
    global_out, global_err = capture_manager.read_global_capture()
    printed = "\n".join([fixture_out, fixture_err, global_out, global_err])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    on_disk = "\n".join(
        path.read_text(errors="replace") for path in run.checkpoints.rglob("*") if path.is_file()
    )

    assert code == 0
    assert JVM_MARKER in printed
    # The fixture really carried the customer data through the raw layer...
    assert [value for value in (PHONE, DNIS, NAME) if value in raw_text] == [PHONE, DNIS, NAME]
    # ...and none of it, nor any secret, was printed, logged or checkpointed.
    assert _leaks(printed) == []
    assert _leaks(logged) == []
    assert _leaks(on_disk) == []
    # The DWH holds the keyed hashes, and no value in any document of any collection.
    assert _leaks(str(documents)) == []
    fact = documents["fact_call"][0]
    assert {k: fact.get(k) for k in ("customer_ani_hash", "customer_dnis_hash")} == {
        "customer_ani_hash": _hmac(PHONE),
        "customer_dnis_hash": _hmac(DNIS),
    }
    assert fact["customer_name_hash"] == _hmac(NAME.lower())
    assert "wrapup_note" not in fact
