"""Unit tests for fixture mode: loading recorded payload files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from simulator.fixtures import FixtureError, load_fixtures

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "genesys"


def test_load_fixtures_sample_folder_reads_records_and_listings() -> None:
    center = load_fixtures(FIXTURES)

    assert [c["conversationId"] for c in center.conversations] == [
        "1bc96a39-6725-40c4-9345-db72aa67b8c6"
    ]
    assert [u["id"] for u in center.users] == ["06ffcd2e-1ada-412e-a5f5-30d7853246dd"]
    assert (len(center.queues), len(center.skills), len(center.wrapup_codes)) == (1, 2, 2)
    assert len(center.divisions) == 2


def test_load_fixtures_invalid_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "users-broken.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(FixtureError, match=r"users-broken\.json"):
        load_fixtures(tmp_path)


def test_load_fixtures_listing_without_entities_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "skills-listing.json").write_text(json.dumps({"total": 0}), encoding="utf-8")

    with pytest.raises(FixtureError, match=r"skills-listing\.json.*entities"):
        load_fixtures(tmp_path)


def test_load_fixtures_bad_conversation_start_names_the_file(tmp_path: Path) -> None:
    payload = {"conversations": [{"conversationId": "c1", "conversationStart": "2021-04-2T1"}]}
    (tmp_path / "details.json").write_text(json.dumps(payload), encoding="utf-8")

    with pytest.raises(FixtureError, match=r"details\.json.*conversations\[0\]"):
        load_fixtures(tmp_path)


def test_load_fixtures_other_json_files_are_ignored(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "oauth-token.json", tmp_path)
    shutil.copy(FIXTURES / "errors.json", tmp_path)

    center = load_fixtures(tmp_path)

    assert (center.conversations, center.users) == ((), ())


def test_load_fixtures_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match="does not exist"):
        load_fixtures(tmp_path / "absent")
