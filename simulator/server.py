"""The HTTP server: one loopback ``ThreadingHTTPServer`` playing the Genesys login and API hosts."""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulator.access import DivisionGrant
from simulator.app import Request, Response, SimulatorApp
from simulator.auth import Credentials, RateLimiter, TokenStore
from simulator.clock import VirtualClock
from simulator.errors import ApiError
from simulator.faults import parse_rules
from simulator.fixtures import load_fixtures
from simulator.generator import ContactCenter, build_contact_center
from simulator.indexing import IndexLag, Revision
from simulator.late import LateChanges, plan_late_changes
from simulator.orgchanges import plan_org_changes
from simulator.profiles import realistic_settings
from simulator.query import QueryLimits
from simulator.store import ConversationStore

logger = logging.getLogger(__name__)

_MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class ExtraClient:
    """Another OAuth client the simulator accepts, e.g. one granted fewer divisions.

    Attributes:
        client_id: Its client id.
        client_secret: Its secret (never logged).
        divisions: Names of the divisions it may read; None means every division.
    """

    client_id: str
    client_secret: str
    divisions: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"ExtraClient(client_id={self.client_id!r}, divisions={self.divisions!r})"


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes a simulator run.

    The realism settings (indexing lag and its jitter, late changes, approximate totals,
    the paging cap, org changes, division grants, scheduled faults, the daily traffic curve)
    are all off by default; `SimulatorConfig.realistic` turns each on.

    Attributes:
        client_id: The OAuth client id the login endpoint accepts.
        client_secret: Its secret (never logged).
        host: Address to listen on; must be loopback unless ``allow_non_loopback``.
        port: TCP port; 0 picks a free one.
        allow_non_loopback: Permit a non-loopback ``host``.
        seed: Seed of the generated contact centre.
        start: Virtual clock start; None means now (rounded down to the minute when generating).
        speed: Virtual seconds per real second (0 freezes the clock).
        agents: Number of generated users.
        conversations_per_hour: Mean Poisson arrival rate of generated conversations.
        history_minutes: Conversations are generated from ``start`` minus this...
        duration_minutes: ...to ``start`` plus this.
        fixtures_dir: Serve recorded payloads from this folder instead of generating data.
        rate_limit_per_minute: Requests per real minute per token before 429.
        token_ttl_seconds: Token lifetime in real seconds.
        query_max_page_size: Largest details-query pageSize.
        query_max_days: Longest details-query interval without filters.
        query_max_days_filtered: Longest details-query interval with filters.
        query_max_results: Optional cap on pageNumber * pageSize (400 beyond it).
        latency_seconds: Indexing lag: how many virtual seconds every conversation's changes
            take to show in the details query and the by-id endpoints.
        latency_jitter_seconds: Up to this many more seconds of lag, fixed per conversation.
        late_wrapup_share: Share of wrap-ups (with tAcw, tHandle) that arrive late.
        late_wrapup_max_seconds: A late wrap-up arrives 5 s to this long after its ACW ended...
        late_wrapup_hours_share: ...except this share of them, 1 to 6 hours late.
        email_reopen_share: Share of answered e-mails re-opened 15 min to 8 h after they ended.
        total_hits_jitter: Relative error of ``totalHits`` while an interval gets traffic.
        org_changes: How many users leave and queues, skills or wrap-up codes are renamed or
            removed during the generated span.
        client_divisions: Division names the main client may read; None means all.
        extra_clients: More OAuth clients, each with its own divisions.
        faults: Fault rules installed at start, as ``POST /simulator/faults`` takes them.
        hourly_profile: 24 multipliers of the arrival rate by UTC hour; None keeps it flat.
        profile: The profile name the config came from (``default`` or ``realistic``).
    """

    client_id: str
    client_secret: str
    host: str = "127.0.0.1"
    port: int = 0
    allow_non_loopback: bool = False
    seed: int = 7
    start: datetime | None = None
    speed: float = 1.0
    agents: int = 50
    conversations_per_hour: float = 600.0
    history_minutes: float = 30.0
    duration_minutes: float = 60.0
    fixtures_dir: Path | None = None
    rate_limit_per_minute: int = 300
    token_ttl_seconds: float = 86400.0
    query_max_page_size: int = 100
    query_max_days: float = 7.0
    query_max_days_filtered: float = 31.0
    query_max_results: int | None = None
    latency_seconds: float = 0.0
    latency_jitter_seconds: float = 0.0
    late_wrapup_share: float = 0.0
    late_wrapup_max_seconds: float = 600.0
    late_wrapup_hours_share: float = 0.0
    email_reopen_share: float = 0.0
    total_hits_jitter: float = 0.0
    org_changes: int = 0
    client_divisions: tuple[str, ...] | None = None
    extra_clients: tuple[ExtraClient, ...] = ()
    faults: tuple[dict[str, Any], ...] = ()
    hourly_profile: tuple[float, ...] | None = None
    profile: str = "default"

    @classmethod
    def realistic(cls, client_id: str, client_secret: str, **overrides: Any) -> SimulatorConfig:
        """Return a config with every realism behaviour on; ``overrides`` win over the profile.

        Scheduled faults are placed relative to the clock start, so a missing ``start`` is
        fixed here (now, rounded down to the minute).
        """
        start = overrides.pop("start", None) or datetime.now(UTC).replace(second=0, microsecond=0)
        settings = realistic_settings(start)
        if overrides.get("fixtures_dir") is not None:
            # Recorded payloads have their own divisions and final records: leave them as they are.
            settings.pop("client_divisions")
        settings.update(overrides)
        return cls(client_id, client_secret, start=start, **settings)

    @property
    def late_changes(self) -> LateChanges:
        """The late-change settings."""
        return LateChanges(
            wrapup_share=self.late_wrapup_share,
            wrapup_delay_max_seconds=self.late_wrapup_max_seconds,
            wrapup_hours_share=self.late_wrapup_hours_share,
            email_reopen_share=self.email_reopen_share,
        )

    def __repr__(self) -> str:
        # Keep the secret out of logs and tracebacks that print the config.
        return (
            f"SimulatorConfig(client_id={self.client_id!r}, host={self.host!r}, port={self.port}, "
            f"profile={self.profile!r})"
        )


class RunningSimulator:
    """A simulator serving in a daemon thread; use `stop` (or ``with``) to shut it down.

    Attributes:
        base_url: ``http://<host>:<port>``, for both the login and the API host.
        app: The request router (exposes ``center``, ``store``, ``clock`` and ``faults``).
    """

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread, app: SimulatorApp):
        self._server = server
        self._thread = thread
        self.app = app
        host, port = server.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    @property
    def clock(self) -> VirtualClock:
        """The virtual clock."""
        return self.app.clock

    @property
    def center(self) -> ContactCenter:
        """The data being served."""
        return self.app.center

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        logger.info("simulator at %s stopped", self.base_url)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_simulator(
    config: SimulatorConfig,
    *,
    center: ContactCenter | None = None,
    revisions: Mapping[str, tuple[Revision, ...]] | None = None,
) -> RunningSimulator:
    """Build the data, bind the socket and serve in a daemon thread.

    Args:
        config: The run configuration.
        center: Serve this data instead of generating it or loading ``config.fixtures_dir``.
        revisions: Earlier states of some of ``center``'s conversations, by id, in place of the
            planned late changes: a test's conversation that changes at an exact instant.

    Raises:
        ValueError: If the host is not loopback (and not allowed) or a setting is invalid.
        simulator.fixtures.FixtureError: If a fixture file is unreadable.
    """
    _check_host(config)
    if not config.client_id or not config.client_secret:
        raise ValueError("client_id and client_secret must be non-empty strings")
    clock_start, data = _prepare(config, center)
    clock = VirtualClock(clock_start, config.speed)
    clients = [Credentials(config.client_id, config.client_secret)]
    clients += [Credentials(extra.client_id, extra.client_secret) for extra in config.extra_clients]
    app = SimulatorApp(
        data,
        clock,
        TokenStore(clients, config.token_ttl_seconds),
        RateLimiter(config.rate_limit_per_minute),
        QueryLimits(
            max_page_size=config.query_max_page_size,
            max_days=config.query_max_days,
            max_days_filtered=config.query_max_days_filtered,
            max_results=config.query_max_results,
            total_hits_jitter=config.total_hits_jitter,
        ),
        store=_store(config, data, revisions),
        org_changes=plan_org_changes(
            {name: getattr(data, name) for name in ("users", "queues", "skills", "wrapup_codes")},
            config.org_changes,
            config.seed,
            clock_start - timedelta(minutes=config.history_minutes),
            clock_start + timedelta(minutes=config.duration_minutes),
        ),
        grants=_grants(config, data),
    )
    try:
        app.faults.add(parse_rules(list(config.faults)))
    except ValueError as exc:
        raise ValueError(f"SimulatorConfig.faults: {exc}") from None
    bind_host = "127.0.0.1" if config.host == "localhost" else config.host
    server = ThreadingHTTPServer((bind_host, config.port), _Handler)
    server.daemon_threads = True
    server.app = app  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="genesys-simulator", daemon=True)
    thread.start()
    running = RunningSimulator(server, thread, app)
    logger.info(
        "simulator listening at %s: %d conversations, clock %s x%s",
        running.base_url,
        len(app.store),
        clock.now().isoformat(),
        config.speed,
    )
    return running


def _store(
    config: SimulatorConfig,
    data: ContactCenter,
    revisions: Mapping[str, tuple[Revision, ...]] | None,
) -> ConversationStore:
    lag = IndexLag(config.latency_seconds, config.latency_jitter_seconds)
    if revisions is not None:
        return ConversationStore(data.conversations, revisions=revisions, lag=lag)
    settings = config.late_changes
    if not settings.enabled or config.fixtures_dir is not None:
        return ConversationStore(data.conversations, lag=lag)
    finals, revisions = plan_late_changes(data.conversations, settings, config.seed)
    return ConversationStore(finals, revisions=revisions, lag=lag)


def _grants(config: SimulatorConfig, data: ContactCenter) -> dict[str, DivisionGrant]:
    grants = {config.client_id: DivisionGrant.by_names(config.client_divisions, data.divisions)}
    for extra in config.extra_clients:
        grants[extra.client_id] = DivisionGrant.by_names(extra.divisions, data.divisions)
    return grants


def _check_host(config: SimulatorConfig) -> None:
    if config.host == "localhost" or config.allow_non_loopback:
        return
    try:
        loopback = ipaddress.ip_address(config.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"host {config.host!r} is not a loopback address; use 127.0.0.1 or pass "
            "allow_non_loopback (--allow-non-loopback) deliberately"
        )


def _prepare(
    config: SimulatorConfig, center: ContactCenter | None
) -> tuple[datetime, ContactCenter]:
    real_now = datetime.now(UTC)
    if center is not None or config.fixtures_dir is not None:
        data = center if center is not None else load_fixtures(Path(config.fixtures_dir or "."))
        return (config.start or real_now), data
    start = config.start or real_now.replace(second=0, microsecond=0)
    data = build_contact_center(
        config.seed,
        agents=config.agents,
        start=start - timedelta(minutes=config.history_minutes),
        end=start + timedelta(minutes=config.duration_minutes),
        conversations_per_hour=config.conversations_per_hour,
        hourly_profile=config.hourly_profile,
    )
    return start, data


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "simulator"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the virtual clock, like a server living in simulated time.
        now = self.server.app.clock.now().replace(microsecond=0)  # type: ignore[attr-defined]
        return format_datetime(now, usegmt=True)

    def log_message(self, format: str, *args: object) -> None:
        # The default writes the raw request line (query values included) to stderr; we log
        # our own line in _dispatch instead.
        return

    def _dispatch(self) -> None:
        started = time.perf_counter()
        app: SimulatorApp = self.server.app  # type: ignore[attr-defined]
        correlation_id = str(uuid.uuid4())
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY_BYTES:
            # We cannot safely skip an unread body, so answer and drop the connection.
            self.close_connection = True
            error = ApiError(413, message=f"Content-Length must be 0..{_MAX_BODY_BYTES}")
            response = Response(413, error.body(correlation_id))
        else:
            body = self.rfile.read(length) if length > 0 else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            response = app.handle(Request(self.command, self.path, headers, body, correlation_id))
        if response.drop:
            # An injected timeout: no status line at all, the client sees the connection close.
            self.close_connection = True
            logger.info("%s %s -> dropped", self.command, urlsplit(self.path).path)
            return
        data = json.dumps(response.payload, separators=(",", ":")).encode("utf-8")
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ININ-Correlation-Id", correlation_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        logger.info(
            "%s %s -> %d in %.1f ms",
            self.command,
            urlsplit(self.path).path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
