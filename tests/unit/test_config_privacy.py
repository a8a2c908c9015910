"""Configuration of the privacy policy, raw retention, maintenance commands and MongoDB URIs
with TLS and auth options."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.config import load_config, mask_uri
from app.errors import ConfigError

HASH_KEY = "hash-key-Recognisable-7731"
BASE_ENV = {
    "GENESYS_CLIENT_ID": "client-1",
    "GENESYS_CLIENT_SECRET": "client-secret-never-printed",
    "MONGO_URI": "mongodb://etl:pa55word@db.example:27017/",
}
TLS_URI = "mongodb://u:p@h1,h2/?tls=true&authSource=admin&replicaSet=rs0"


def test_load_config_privacy_and_retention_defaults_keep_nothing_forever() -> None:
    config = load_config(env=BASE_ENV)
    assert (
        config.privacy.customer_identifiers,
        config.privacy.keep_wrapup_notes,
        config.privacy.hash_key,
        config.retention.raw_days,
    ) == ("drop", False, None, 0)


def test_load_config_hash_policy_reads_key_from_file_trimmed(tmp_path: Path) -> None:
    key_file = tmp_path / "hash-key"
    key_file.write_text(HASH_KEY + "\n")
    env = {
        **BASE_ENV,
        "PRIVACY_CUSTOMER_IDENTIFIERS": "hash",
        "PRIVACY_KEEP_WRAPUP_NOTES": "true",
        "PRIVACY_HASH_KEY_FILE": str(key_file),
        "RAW_RETENTION_DAYS": "90",
    }
    config = load_config(env=env)
    assert config.privacy.hash_key is not None
    assert (
        config.privacy.customer_identifiers,
        config.privacy.keep_wrapup_notes,
        config.privacy.hash_key.reveal(),
        config.retention.raw_days,
    ) == ("hash", True, HASH_KEY, 90)
    assert HASH_KEY not in repr(config)


def test_load_config_settings_from_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "app.toml"
    path.write_text(
        '[privacy]\ncustomer_identifiers = "drop"\nkeep_wrapup_notes = true\n'
        "[retention]\nraw_days = 30\n"
    )
    config = load_config(path, env=BASE_ENV)
    assert (config.privacy.keep_wrapup_notes, config.retention.raw_days) == (True, 30)


def test_load_config_hash_policy_without_key_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(env={**BASE_ENV, "PRIVACY_CUSTOMER_IDENTIFIERS": "hash"})
    assert raised.value.problems == [
        "the privacy hash key (customer_identifiers = hash) is missing: "
        "set PRIVACY_HASH_KEY / PRIVACY_HASH_KEY_FILE"
    ]


def test_load_config_short_hash_key_is_refused_without_showing_it() -> None:
    env = {**BASE_ENV, "PRIVACY_CUSTOMER_IDENTIFIERS": "hash", "PRIVACY_HASH_KEY": "tiny-k3y"}
    with pytest.raises(ConfigError) as raised:
        load_config(env=env)
    assert raised.value.problems == [
        "the privacy hash key (PRIVACY_HASH_KEY / PRIVACY_HASH_KEY_FILE) must have at least "
        "16 characters, got 8"
    ]
    assert "tiny-k3y" not in str(raised.value)


def test_load_config_bad_privacy_and_retention_values_reported_together() -> None:
    env = {
        **BASE_ENV,
        "PRIVACY_CUSTOMER_IDENTIFIERS": "encrypt",
        "PRIVACY_KEEP_WRAPUP_NOTES": "maybe",
        "RAW_RETENTION_DAYS": "-1",
    }
    with pytest.raises(ConfigError) as raised:
        load_config(env=env)
    assert raised.value.problems == [
        "privacy.keep_wrapup_notes (PRIVACY_KEEP_WRAPUP_NOTES) must be true or false, got 'maybe'",
        "privacy.customer_identifiers (PRIVACY_CUSTOMER_IDENTIFIERS) must be drop or hash, "
        "got 'encrypt'",
        "retention.raw_days (RAW_RETENTION_DAYS) must be 0 (keep forever) or more, got -1",
    ]


def test_load_config_without_api_requirement_accepts_missing_genesys_credentials() -> None:
    config = load_config(env={"MONGO_URI": TLS_URI}, require_api=False)
    assert config.mongo.raw_database == "genesys_raw"


def test_load_config_tls_and_auth_uri_passes_through_unchanged() -> None:
    config = load_config(env={**BASE_ENV, "MONGO_URI": TLS_URI})
    assert (config.mongo.raw_uri.reveal(), config.mongo.dwh_uri.reveal()) == (TLS_URI, TLS_URI)


def test_mask_uri_tls_and_auth_uri_hides_only_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("app").info("raw %s", mask_uri(TLS_URI))
    assert caplog.messages == [
        "raw mongodb://u:***@h1,h2/?tls=true&authSource=admin&replicaSet=rs0"
    ]
