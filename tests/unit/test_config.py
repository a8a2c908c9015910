"""Configuration: defaults, env overrides, secret files, one error listing every problem."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.config import Secret, load_config, mask_uri
from app.errors import ConfigError

SECRET = "s3cr3t-value-never-printed"
BASE_ENV = {
    "GENESYS_CLIENT_ID": "client-1",
    "GENESYS_CLIENT_SECRET": SECRET,
    "MONGO_URI": "mongodb://etl:pa55word@db.example:27017/",
}


def test_load_config_defaults_match_the_design() -> None:
    config = load_config(env=BASE_ENV)
    summary = (
        config.genesys.api_base_url,
        config.genesys.login_base_url,
        config.capture.trigger_seconds,
        config.capture.lookback_seconds,
        config.capture.overlap_seconds,
        config.mongo.raw_database,
        config.mongo.dwh_database,
    )
    assert summary == (
        "https://api.mypurecloud.com",
        "https://login.mypurecloud.com",
        120,
        180,
        60,
        "genesys_raw",
        "genesys_dwh",
    )


def test_load_config_region_name_maps_to_its_hosts() -> None:
    config = load_config(env={**BASE_ENV, "GENESYS_REGION": "eu_central_1"})
    assert (config.genesys.api_base_url, config.genesys.login_base_url) == (
        "https://api.mypurecloud.de",
        "https://login.mypurecloud.de",
    )


def test_load_config_secret_file_is_read_and_trimmed(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    env = {k: v for k, v in BASE_ENV.items() if k != "GENESYS_CLIENT_SECRET"}
    config = load_config(env={**env, "GENESYS_CLIENT_SECRET_FILE": str(secret_file)})
    assert config.genesys.client_secret.reveal() == SECRET


def test_load_config_raw_and_dwh_may_live_on_different_servers() -> None:
    env = {
        **BASE_ENV,
        "MONGO_RAW_URI": "mongodb://raw.example/",
        "MONGO_DWH_URI": "mongodb://dwh.example/",
    }
    config = load_config(env=env)
    assert (config.mongo.raw_uri.reveal(), config.mongo.dwh_uri.reveal()) == (
        "mongodb://raw.example/",
        "mongodb://dwh.example/",
    )


def test_load_config_bounded_range_is_parsed_as_utc() -> None:
    env = {**BASE_ENV, "CAPTURE_START": "2026-12-04T10:00:00Z", "CAPTURE_END": "2026-12-04T11:00"}
    config = load_config(env=env)
    assert (config.capture.start, config.capture.end) == (
        datetime(2026, 12, 4, 10, tzinfo=UTC),
        datetime(2026, 12, 4, 11, tzinfo=UTC),
    )


def test_load_config_every_problem_is_reported_at_once() -> None:
    env = {
        "CAPTURE_TRIGGER_SECONDS": "soon",
        "CAPTURE_START": "yesterday",
        "GENESYS_REGION": "atlantis",
    }
    with pytest.raises(ConfigError) as caught:
        load_config(env=env)
    assert len(caught.value.problems) == 7
    assert "CAPTURE_TRIGGER_SECONDS" in str(caught.value)
    assert "'yesterday'" in str(caught.value)
    assert "'atlantis'" in str(caught.value)


def test_load_config_lookback_shorter_than_trigger_is_refused() -> None:
    env = {**BASE_ENV, "CAPTURE_TRIGGER_SECONDS": "120", "CAPTURE_LOOKBACK_SECONDS": "60"}
    with pytest.raises(ConfigError, match="would leave gaps"):
        load_config(env=env)


def test_config_repr_never_shows_secrets() -> None:
    text = repr(load_config(env=BASE_ENV))
    assert SECRET not in text
    assert "pa55word" not in text
    assert "Secret('***')" in text


def test_secret_str_is_masked() -> None:
    assert str(Secret("abc")) == "Secret('***')"


def test_mask_uri_hides_the_password_only() -> None:
    assert mask_uri("mongodb://etl:pa55word@db.example:27017/x") == (
        "mongodb://etl:***@db.example:27017/x"
    )


def test_load_config_secret_in_env_and_file_is_ambiguous(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("other")
    with pytest.raises(
        ConfigError, match="both GENESYS_CLIENT_SECRET and GENESYS_CLIENT_SECRET_FILE"
    ):
        load_config(env={**BASE_ENV, "GENESYS_CLIENT_SECRET_FILE": str(secret_file)})


def test_load_config_api_url_makes_the_region_irrelevant() -> None:
    env = {**BASE_ENV, "GENESYS_REGION": "atlantis", "GENESYS_API_BASE_URL": "http://127.0.0.1:9"}
    config = load_config(env=env)
    assert (config.genesys.api_base_url, config.genesys.login_base_url) == (
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    )
