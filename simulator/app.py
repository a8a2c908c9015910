"""Request routing for the simulator, independent of the HTTP plumbing in `simulator.server`."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulator.access import DivisionGrant
from simulator.auth import OAuthError, RateLimiter, TokenStore
from simulator.clock import VirtualClock
from simulator.errors import ApiError, bad_request, fault_error
from simulator.faults import FaultBook, FaultRule, parse_rules
from simulator.generator import ContactCenter
from simulator.indexing import IndexLag
from simulator.listings import LISTINGS, listing_page
from simulator.orgchanges import OrgChange, entities_at
from simulator.query import QueryLimits, run_details_query
from simulator.store import ConversationStore
from simulator.timefmt import format_ts, parse_ts
from simulator.usage import ClientUsage

_DETAILS_BY_ID = re.compile(r"^/api/v2/analytics/conversations/([^/]+)/details$")
_ID_SEGMENT = re.compile(r"/[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}(?=/|$)")
_ANONYMOUS = "anonymous"
_QUERY_PATH = "/api/v2/analytics/conversations/details/query"


@dataclass(frozen=True)
class Request:
    """One HTTP request as the router sees it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    correlation_id: str


@dataclass
class Response:
    """One HTTP response: status, JSON payload and extra headers.

    ``drop`` asks the server to close the connection without answering (an injected timeout).
    """

    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


class SimulatorApp:
    """Routes login, Platform API and ``/simulator/*`` control requests.

    Args:
        center: The data served (generated or loaded from fixtures).
        clock: The virtual clock; views and the ``Date`` header follow it.
        tokens: OAuth token store.
        limiter: Per-token request budget.
        limits: Details-query limits.
        latency_seconds: How far behind the clock the analytics data lags (ignored when
            ``store`` is given: the store carries its own lag).
        store: The conversations served; built from ``center`` without late changes if None.
        org_changes: Changes of listed entities over virtual time.
        grants: Divisions per client id; a client without an entry sees every division.
    """

    def __init__(
        self,
        center: ContactCenter,
        clock: VirtualClock,
        tokens: TokenStore,
        limiter: RateLimiter,
        limits: QueryLimits,
        latency_seconds: float = 0.0,
        *,
        store: ConversationStore | None = None,
        org_changes: Sequence[OrgChange] = (),
        grants: Mapping[str, DivisionGrant] | None = None,
    ) -> None:
        self.center = center
        self.clock = clock
        self.store = store or ConversationStore(
            center.conversations, lag=IndexLag(base_seconds=latency_seconds)
        )
        self.faults = FaultBook()
        self.org_changes = tuple(org_changes)
        self.usage = ClientUsage()
        self._grants = dict(grants or {})
        self._tokens = tokens
        self._limiter = limiter
        self._limits = limits
        self._stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._stats_lock = threading.Lock()

    def grant_of(self, client_id: str) -> DivisionGrant:
        """Return the divisions ``client_id`` may read (every division when not restricted)."""
        return self._grants.get(client_id, DivisionGrant())

    def handle(self, request: Request) -> Response:
        """Answer ``request``; never raises for client errors."""
        path = urlsplit(request.target).path
        params = parse_qs(urlsplit(request.target).query, keep_blank_values=True)
        if path.startswith("/simulator/"):
            response = self._control(request, path, params)
        elif path == "/oauth/token":
            response = self._login(request, path)
        elif path.startswith("/api/v2/"):
            response = self._api(request, path, params)
        else:
            response = self._error(ApiError(404), request, _ANONYMOUS)
        self._count(request.method, path, response.status)
        return response

    # -- login and API --------------------------------------------------------------------------

    def _login(self, request: Request, path: str) -> Response:
        rule = self.faults.take(request.method, path, now=self.clock.now())
        if rule is not None and _slowed_or_dropped(rule):
            return Response(0, None, drop=True)
        if rule is not None and rule.status is not None:
            if rule.status in (400, 401):
                error = OAuthError(rule.status, "invalid_client", "authentication failed")
                return Response(error.status, error.body(), self._budget(_ANONYMOUS))
            return self._error(fault_error(rule.status, rule.retry_after), request, _ANONYMOUS)
        if request.method != "POST":
            return self._error(ApiError(404), request, _ANONYMOUS)
        try:
            payload = self._tokens.grant(request.headers.get("authorization"), request.body)
        except OAuthError as exc:
            return Response(exc.status, exc.body(), self._budget(_ANONYMOUS))
        return Response(200, payload, self._budget(_ANONYMOUS))

    def _api(self, request: Request, path: str, params: dict[str, list[str]]) -> Response:
        try:
            token = self._tokens.check(request.headers.get("authorization"))
        except ApiError as exc:
            return self._error(exc, request, _ANONYMOUS)
        client_id = self._tokens.client_of(token)
        response = self._api_as(client_id, token, request, path, params)
        if not response.drop:
            self.usage.record(client_id, response.status, self.clock.now())
        return response

    def _api_as(
        self,
        client_id: str,
        token: str,
        request: Request,
        path: str,
        params: dict[str, list[str]],
    ) -> Response:
        page = _requested_page(request, path, params)
        rule = self.faults.take(request.method, path, page, self.clock.now())
        if rule is not None and _slowed_or_dropped(rule):
            return Response(0, None, drop=True)
        if rule is not None and rule.status is not None:
            if rule.status == 401:
                self._tokens.revoke(token)
            return self._error(fault_error(rule.status, rule.retry_after), request, token)
        try:
            budget = self._limiter.spend(token)
        except ApiError as exc:
            return self._error(exc, request, token)
        try:
            status, payload = self._route(request, path, params, self.grant_of(client_id))
        except ApiError as exc:
            return self._error(exc, request, token)
        return Response(status, payload, budget.headers())

    def _route(
        self,
        request: Request,
        path: str,
        params: dict[str, list[str]],
        grant: DivisionGrant,
    ) -> tuple[int, Any]:
        now = self.clock.now()
        now_key = format_ts(now)
        method = request.method
        if path == _QUERY_PATH and method == "POST":
            body = _json_body(request)
            return 200, run_details_query(body, self.store, now_key, self._limits, grant)
        if path == "/api/v2/analytics/conversations/details" and method == "GET":
            ids = [i for value in params.get("id", []) for i in value.split(",") if i.strip()]
            if not ids:
                raise bad_request("the id query parameter is required, e.g. ?id=a,b")
            views = [self.store.view(i.strip(), now_key, grant) for i in ids]
            return 200, {"conversations": [v for v in views if v is not None]}
        match = _DETAILS_BY_ID.match(path)
        if match and method == "GET":
            view = self.store.view(match.group(1), now_key, grant)
            if view is None:
                raise ApiError(404)
            return 200, view
        spec = LISTINGS.get(path)
        if spec is not None and method == "GET":
            return 200, listing_page(spec, self.entities(spec.attribute, now, grant), params)
        raise ApiError(404)

    def entities(
        self, listing: str, now: datetime | None, grant: DivisionGrant | None = None
    ) -> list[dict[str, Any]]:
        """Return the entities of ``listing`` at ``now`` (None: after every change) for ``grant``.

        Args:
            listing: The `ContactCenter` attribute, e.g. ``users`` or ``wrapup_codes``.
            now: The virtual instant; None applies every planned change.
            grant: The divisions of the asking client; None means every division.
        """
        base = getattr(self.center, listing)
        moment = now if now is not None else datetime.max.replace(tzinfo=self.clock.now().tzinfo)
        current = entities_at(listing, base, self.org_changes, moment)
        seen = grant or DivisionGrant()
        return [entity for entity in current if seen.sees_entity(listing, entity)]

    # -- control endpoints -----------------------------------------------------------------------

    def _control(self, request: Request, path: str, params: dict[str, list[str]]) -> Response:
        headers = self._budget(_ANONYMOUS)
        method = request.method
        try:
            if path == "/simulator/truth" and method == "GET":
                start = _optional_time(params, "start")
                end = _optional_time(params, "end")
                grant = self._truth_grant(params)
                return Response(
                    200, {"conversations": self.store.final(start, end, grant)}, headers
                )
            if path == "/simulator/truth/entities" and method == "GET":
                return Response(200, self._entities_truth(self._truth_grant(params)), headers)
            if path == "/simulator/clock" and method == "GET":
                return Response(200, {"now": format_ts(self.clock.now())}, headers)
            if path == "/simulator/clock" and method == "POST":
                body = _json_body(request)
                if not isinstance(body, dict) or not isinstance(body.get("now"), str):
                    raise bad_request(f'expected {{"now": "<ISO-8601>"}}, got {body!r:.80}')
                self.clock.set(_parse_time(body["now"], "now"))
                return Response(200, {"now": format_ts(self.clock.now())}, headers)
            if path == "/simulator/stats" and method == "GET":
                return Response(200, self._stats_payload(), headers)
            if path == "/simulator/faults" and method == "POST":
                try:
                    rules = parse_rules(_json_body(request))
                except ValueError as exc:
                    raise bad_request(str(exc)) from None
                return Response(200, {"active": self.faults.add(rules)}, headers)
            if path == "/simulator/faults" and method == "DELETE":
                self.faults.clear()
                return Response(200, {"active": 0}, headers)
            if path == "/simulator/faults" and method == "GET":
                return Response(200, {"active": self.faults.count()}, headers)
            raise ApiError(404)
        except ApiError as exc:
            return Response(exc.status, exc.body(request.correlation_id), headers)

    # -- helpers ---------------------------------------------------------------------------------

    def _error(self, error: ApiError, request: Request, key: str) -> Response:
        headers = self._budget(key)
        headers.update(error.headers)
        return Response(error.status, error.body(request.correlation_id), headers)

    def _budget(self, key: str) -> dict[str, str]:
        return self._limiter.peek(key).headers()

    def _count(self, method: str, path: str, status: int) -> None:
        template = f"{method} {_ID_SEGMENT.sub('/{id}', path)}"
        with self._stats_lock:
            self._stats[template][str(status)] += 1

    def _stats_payload(self) -> dict[str, Any]:
        with self._stats_lock:
            requests = {path: dict(counts) for path, counts in self._stats.items()}
        total = sum(sum(counts.values()) for counts in requests.values())
        return {"requests": requests, "total": total, "clients": self.usage.snapshot()}

    def _truth_grant(self, params: dict[str, list[str]]) -> DivisionGrant:
        values = params.get("client_id")
        if not values:
            return DivisionGrant()
        if values[-1] not in self._tokens.client_ids():
            raise bad_request(f"client_id {values[-1]!r} is not a client of this simulator")
        return self.grant_of(values[-1])

    def _entities_truth(self, grant: DivisionGrant) -> dict[str, Any]:
        """Every listing after all planned changes (users of every state), and the changes."""
        listings = {
            spec.attribute: self.entities(spec.attribute, None, grant) for spec in LISTINGS.values()
        }
        return {"entities": listings, "changes": [c.to_json() for c in self.org_changes]}


def _slowed_or_dropped(rule: FaultRule) -> bool:
    """Wait out a rule's delay; return whether the connection must then be dropped."""
    if rule.delay_seconds > 0:
        # Real seconds: a client's timeout runs on the wall clock, not on the virtual one.
        time.sleep(rule.delay_seconds)
    return rule.drop


def _requested_page(request: Request, path: str, params: dict[str, list[str]]) -> int:
    """Return the page a request asks for: details-query paging or a listing's pageNumber."""
    if path == _QUERY_PATH:
        try:
            paging = json.loads(request.body or b"null").get("paging") or {}
            return int(paging.get("pageNumber", 1))
        except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
            return 1
    try:
        return int((params.get("pageNumber") or ["1"])[-1])
    except ValueError:
        return 1


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None


def _parse_time(text: str, name: str) -> datetime:
    try:
        return parse_ts(text)
    except ValueError as exc:
        raise bad_request(f"{name}: {exc}", "invalid.date") from None


def _optional_time(params: dict[str, list[str]], name: str) -> datetime | None:
    values = params.get(name)
    return _parse_time(values[-1], name) if values else None
