"""One typed configuration object, built once from `conf/*.toml` and the environment.

Secrets (API credentials, MongoDB URIs that may hold a password) come only from environment
variables or secret files (`<NAME>_FILE`), never from a committed file, and never print.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from app.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "conf" / "application.toml"


@dataclass(frozen=True)
class Secret:
    """A value that must never reach a log, an error message or a Spark plan."""

    value: str = field(repr=False)

    def reveal(self) -> str:
        """Return the secret itself; call this only where it is sent to its server."""
        return self.value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def mask_uri(uri: str) -> str:
    """Hide the password of a MongoDB URI so that it can be logged."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", uri)


@dataclass(frozen=True)
class GenesysSettings:
    """How to reach the Genesys Cloud Platform API for one OAuth client."""

    api_base_url: str
    login_base_url: str
    client_id: str
    client_secret: Secret
    page_size: int = 100
    # Results one details query may page through (pageNumber x pageSize) before the API
    # answers 400; windows reporting more are split (10,000 as the users listing documents).
    max_results: int = 10_000
    timeout_seconds: float = 30.0
    max_retries: int = 6
    max_retry_after_seconds: float = 180.0
    # The application's own budget, below Genesys's 300 per minute per client: retries and
    # other integrations on the same client need the rest (connectors/genesys/budget.py).
    requests_per_minute: int = 240


@dataclass(frozen=True)
class CaptureSettings:
    """The sliding window of the capture query (query 1)."""

    trigger_seconds: int
    lookback_seconds: int
    start: datetime | None
    end: datetime | None
    max_batch_seconds: int
    dimension_refresh_seconds: int
    checkpoint_dir: str
    # Conversations seen open are fetched by id until final and this long past their end.
    settle_seconds: int = 600
    # Watchlist fetches per batch at most; 0 turns the watchlist off.
    watchlist_max_per_batch: int = 2000
    # How often a batch also sweeps the trailing horizon (0: never), and how far back: late
    # changes after the settle time, re-opened e-mails, calls first indexed after midnight.
    sweep_seconds: int = 1800
    sweep_horizon_seconds: int = 6 * 3600
    # Each sweep also asks, for this many UTC days before the horizon, for the conversations
    # that started that day and were open at its end or re-opened since (windows.py).
    sweep_days: int = 7

    @property
    def overlap_seconds(self) -> int:
        """How far each window reaches back before its start to absorb late data."""
        return self.lookback_seconds - self.trigger_seconds


@dataclass(frozen=True)
class CurateSettings:
    """The curate query (query 2) that turns raw batches into the star schema."""

    trigger_seconds: int
    checkpoint_dir: str


@dataclass(frozen=True)
class MongoSettings:
    """Where the raw and the DWH layers live; they may be different servers."""

    raw_uri: Secret
    dwh_uri: Secret
    raw_database: str
    dwh_database: str


CUSTOMER_IDENTIFIER_POLICIES = ("drop", "hash")
# A shorter key could be guessed; 32 random bytes in base64 are 43 characters.
MIN_HASH_KEY_LENGTH = 16


@dataclass(frozen=True)
class PrivacySettings:
    """What customer personal data the curate job may carry into the DWH.

    `customer_identifiers`: "drop" (none, the default) or "hash" (keyed hashes of the customer's
    ani, dnis and name). `hash_key` is set only with "hash".
    """

    customer_identifiers: str = "drop"
    keep_wrapup_notes: bool = False
    hash_key: Secret | None = None


@dataclass(frozen=True)
class RetentionSettings:
    """How long raw versions are kept; 0 keeps them forever."""

    raw_days: int = 0


@dataclass(frozen=True)
class AppConfig:
    """Everything the application needs, validated."""

    genesys: GenesysSettings
    capture: CaptureSettings
    curate: CurateSettings
    mongo: MongoSettings
    spark_master: str | None
    shuffle_partitions: int
    privacy: PrivacySettings = PrivacySettings()
    retention: RetentionSettings = RetentionSettings()


REGION_DOMAINS = {
    "us_east_1": "mypurecloud.com",
    "eu_west_1": "mypurecloud.ie",
    "ap_southeast_2": "mypurecloud.com.au",
    "ap_northeast_1": "mypurecloud.jp",
    "eu_central_1": "mypurecloud.de",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "ap_northeast_2": "apne2.pure.cloud",
    "eu_west_2": "euw2.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "us_east_2": "use2.us-gov-pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
    "eu_central_2": "euc2.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
}


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant; a value without a zone is UTC. Raises ValueError."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Reader:
    """Reads settings from the TOML file and the environment, collecting every problem."""

    def __init__(self, file_values: Mapping[str, object], env: Mapping[str, str]) -> None:
        self.file_values = file_values
        self.env = env
        self.problems: list[str] = []

    def raw(self, section: str, key: str, env_name: str | None) -> object:
        if env_name and self.env.get(env_name, "") != "":
            return self.env[env_name]
        table = self.file_values.get(section, {})
        return table.get(key) if isinstance(table, dict) else None

    def text(self, section: str, key: str, env_name: str | None = None, default: str = "") -> str:
        value = self.raw(section, key, env_name)
        return default if value in (None, "") else str(value)

    def number(
        self,
        section: str,
        key: str,
        env_name: str | None,
        default: int,
        minimum: int = 1,
        rule: str = "positive",
    ) -> int:
        """A whole number of at least `minimum`; `rule` says so in the problem message."""
        value = self.raw(section, key, env_name)
        if value in (None, ""):
            return default
        try:
            number = int(str(value))
        except ValueError:
            self.problems.append(
                f"{section}.{key} ({env_name}) must be a whole number, got {value!r}"
            )
            return default
        if number < minimum:
            self.problems.append(f"{section}.{key} ({env_name}) must be {rule}, got {number}")
        return number

    def days(self, section: str, key: str, env_name: str, default: int) -> int:
        """A whole number of days where 0 is allowed (it means "keep forever")."""
        return self.number(section, key, env_name, default, 0, "0 (keep forever) or more")

    def flag(self, section: str, key: str, env_name: str, default: bool) -> bool:
        value = self.raw(section, key, env_name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        self.problems.append(f"{section}.{key} ({env_name}) must be true or false, got {value!r}")
        return default

    def instant(self, section: str, key: str, env_name: str) -> datetime | None:
        value = self.text(section, key, env_name)
        if not value:
            return None
        try:
            return parse_instant(value)
        except ValueError:
            self.problems.append(
                f"{section}.{key} ({env_name}) must be an ISO-8601 instant such as "
                f"2026-12-04T10:00:00Z, got {value!r}"
            )
            return None

    def secret(self, env_name: str, what: str, fallback_env: str | None = None) -> Secret:
        """A secret from NAME or from the file named by NAME_FILE (Kubernetes secret mounts)."""
        for name in (env_name, fallback_env):
            if not name:
                continue
            if self.env.get(name) and self.env.get(f"{name}_FILE"):
                self.problems.append(f"both {name} and {name}_FILE are set: keep one of them")
                return Secret("")
            if self.env.get(name):
                return Secret(self.env[name])
            path = self.env.get(f"{name}_FILE")
            if path:
                try:
                    return Secret(Path(path).read_text(encoding="utf-8").strip())
                except OSError as error:
                    self.problems.append(
                        f"{name}_FILE names {path!r}, unreadable: {error.strerror}"
                    )
                    return Secret("")
        names = " or ".join(f"{n} / {n}_FILE" for n in (env_name, fallback_env) if n)
        self.problems.append(f"{what} is missing: set {names}")
        return Secret("")


def _genesys(reader: _Reader) -> GenesysSettings:
    region = reader.text("genesys", "region", "GENESYS_REGION", "us_east_1")
    domain = REGION_DOMAINS.get(region, region if "." in region else "")
    explicit_api = reader.text("genesys", "api_base_url", "GENESYS_API_BASE_URL")
    if not domain and not explicit_api:
        reader.problems.append(
            f"genesys.region (GENESYS_REGION) {region!r} is neither a known region "
            f"({', '.join(sorted(REGION_DOMAINS))}) nor a domain like mypurecloud.ie"
        )
    api = reader.text("genesys", "api_base_url", "GENESYS_API_BASE_URL", f"https://api.{domain}")
    login = reader.text(
        "genesys", "login_base_url", "GENESYS_LOGIN_BASE_URL", api.replace("//api.", "//login.")
    )
    client_id = reader.env.get("GENESYS_CLIENT_ID", "")
    if not client_id:
        reader.problems.append("the Genesys OAuth client id is missing: set GENESYS_CLIENT_ID")
    return GenesysSettings(
        api_base_url=api.rstrip("/"),
        login_base_url=login.rstrip("/"),
        client_id=client_id,
        client_secret=reader.secret("GENESYS_CLIENT_SECRET", "the Genesys OAuth client secret"),
        page_size=reader.number("genesys", "page_size", "GENESYS_PAGE_SIZE", 100),
        max_results=reader.number("genesys", "max_results", "GENESYS_MAX_RESULTS", 10_000),
        max_retries=reader.number("genesys", "max_retries", "GENESYS_MAX_RETRIES", 6),
        requests_per_minute=reader.number(
            "genesys", "requests_per_minute", "GENESYS_REQUESTS_PER_MINUTE", 240
        ),
    )


def _capture(reader: _Reader, state_dir: str) -> CaptureSettings:
    settings = CaptureSettings(
        trigger_seconds=reader.number("capture", "trigger_seconds", "CAPTURE_TRIGGER_SECONDS", 120),
        lookback_seconds=reader.number(
            "capture", "lookback_seconds", "CAPTURE_LOOKBACK_SECONDS", 180
        ),
        start=reader.instant("capture", "start", "CAPTURE_START"),
        end=reader.instant("capture", "end", "CAPTURE_END"),
        max_batch_seconds=reader.number(
            "capture", "max_batch_seconds", "CAPTURE_MAX_BATCH_SECONDS", 3600
        ),
        dimension_refresh_seconds=reader.number(
            "capture", "dimension_refresh_seconds", "CAPTURE_DIMENSION_REFRESH_SECONDS", 1800
        ),
        checkpoint_dir=os.path.join(state_dir, "capture"),
        settle_seconds=reader.number("capture", "settle_seconds", "CAPTURE_SETTLE_SECONDS", 600),
        watchlist_max_per_batch=reader.number(
            "capture",
            "watchlist_max_per_batch",
            "CAPTURE_WATCHLIST_MAX_PER_BATCH",
            2000,
            minimum=0,
            rule="0 (off) or more",
        ),
        sweep_seconds=reader.number(
            "capture", "sweep_seconds", "CAPTURE_SWEEP_SECONDS", 1800, 0, "0 (off) or more"
        ),
        sweep_horizon_seconds=reader.number(
            "capture", "sweep_horizon_seconds", "CAPTURE_SWEEP_HORIZON_SECONDS", 6 * 3600
        ),
        sweep_days=reader.number(
            "capture", "sweep_days", "CAPTURE_SWEEP_DAYS", 7, 0, "0 (off) or more"
        ),
    )
    if settings.lookback_seconds < settings.trigger_seconds:
        reader.problems.append(
            f"capture.lookback_seconds ({settings.lookback_seconds}) must be at least "
            f"capture.trigger_seconds ({settings.trigger_seconds}), or windows would leave gaps"
        )
    if settings.start and settings.end and settings.end <= settings.start:
        reader.problems.append(
            f"CAPTURE_END {settings.end.isoformat()} must be after CAPTURE_START "
            f"{settings.start.isoformat()}"
        )
    return settings


def _privacy(reader: _Reader) -> PrivacySettings:
    policy = reader.text(
        "privacy", "customer_identifiers", "PRIVACY_CUSTOMER_IDENTIFIERS", "drop"
    ).lower()
    keep_notes = reader.flag("privacy", "keep_wrapup_notes", "PRIVACY_KEEP_WRAPUP_NOTES", False)
    if policy not in CUSTOMER_IDENTIFIER_POLICIES:
        reader.problems.append(
            f"privacy.customer_identifiers (PRIVACY_CUSTOMER_IDENTIFIERS) must be "
            f"{' or '.join(CUSTOMER_IDENTIFIER_POLICIES)}, got {policy!r}"
        )
        return PrivacySettings("drop", keep_notes)
    if policy == "drop":
        # The key is not even read: a policy that keeps no identifier needs none.
        return PrivacySettings("drop", keep_notes)
    problems_before = len(reader.problems)
    key = reader.secret("PRIVACY_HASH_KEY", "the privacy hash key (customer_identifiers = hash)")
    if len(reader.problems) == problems_before and len(key.reveal()) < MIN_HASH_KEY_LENGTH:
        reader.problems.append(
            f"the privacy hash key (PRIVACY_HASH_KEY / PRIVACY_HASH_KEY_FILE) must have at "
            f"least {MIN_HASH_KEY_LENGTH} characters, got {len(key.reveal())}"
        )
    return PrivacySettings("hash", keep_notes, key)


def raw_uri_from_environment(env: Mapping[str, str] | None = None) -> Secret | None:
    """The raw layer's MongoDB URI from the environment (MONGO_RAW_URI, MONGO_URI or a _FILE),
    None when none is set. For the capture source, which must not take a URI as an option
    (options show in query plans)."""
    reader = _Reader({}, os.environ if env is None else env)
    uri = reader.secret("MONGO_RAW_URI", "the raw-layer MongoDB URI", "MONGO_URI")
    return None if reader.problems else uri


def load_config(
    path: Path | None = None, env: Mapping[str, str] | None = None, *, require_api: bool = True
) -> AppConfig:
    """Build the configuration from the TOML file and the environment (which wins).

    `require_api=False` is for maintenance commands (`purge-raw`) that never call Genesys: a
    missing client id or secret is then not a problem.

    Raises:
        ConfigError: listing every problem at once, without any secret value.
    """
    env = os.environ if env is None else env
    if path is None:
        path = Path(env["GENESYS_ETL_CONFIG"]) if env.get("GENESYS_ETL_CONFIG") else DEFAULT_CONFIG
    try:
        file_values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError([f"cannot read the config file {path}: {error}"]) from error

    reader = _Reader(file_values, env)
    state_dir = reader.text(
        "state", "checkpoint_root", "GENESYS_ETL_CHECKPOINTS", "/tmp/genesys-etl"
    )
    # Maintenance commands read the API settings with a reader whose problems are ignored.
    api_reader = reader if require_api else _Reader(file_values, env)
    config = AppConfig(
        genesys=_genesys(api_reader),
        capture=_capture(reader, state_dir),
        curate=CurateSettings(
            trigger_seconds=reader.number(
                # Short: a trigger without a new landing only reads the newest marker, and
                # a landing waits for the next trigger before it is curated.
                "curate",
                "trigger_seconds",
                "CURATE_TRIGGER_SECONDS",
                10,
            ),
            checkpoint_dir=os.path.join(state_dir, "curate"),
        ),
        mongo=MongoSettings(
            raw_uri=reader.secret("MONGO_RAW_URI", "the raw-layer MongoDB URI", "MONGO_URI"),
            dwh_uri=reader.secret("MONGO_DWH_URI", "the DWH MongoDB URI", "MONGO_URI"),
            raw_database=reader.text("mongo", "raw_database", "MONGO_RAW_DATABASE", "genesys_raw"),
            dwh_database=reader.text("mongo", "dwh_database", "MONGO_DWH_DATABASE", "genesys_dwh"),
        ),
        spark_master=reader.text("spark", "master", "SPARK_MASTER") or None,
        shuffle_partitions=reader.number(
            "spark", "shuffle_partitions", "SPARK_SHUFFLE_PARTITIONS", 4
        ),
        privacy=_privacy(reader),
        retention=RetentionSettings(
            raw_days=reader.days("retention", "raw_days", "RAW_RETENTION_DAYS", 0)
        ),
    )
    if reader.problems:
        raise ConfigError(reader.problems)
    return config
