"""Request routing for the simulator, independent of the HTTP plumbing in `simulator.server`."""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulator.auth import OAuthError, RateLimiter, TokenStore
from simulator.clock import VirtualClock
from simulator.errors import ApiError, bad_request, fault_error
from simulator.faults import FaultBook, parse_rules
from simulator.generator import ContactCenter
from simulator.listings import LISTINGS, listing_page
from simulator.query import QueryLimits, run_details_query
from simulator.store import ConversationStore
from simulator.timefmt import format_ts, parse_ts

_DETAILS_BY_ID = re.compile(r"^/api/v2/analytics/conversations/([^/]+)/details$")
_ID_SEGMENT = re.compile(r"/[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}(?=/|$)")
_ANONYMOUS = "anonymous"


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
    """One HTTP response: status, JSON payload and extra headers."""

    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


class SimulatorApp:
    """Routes login, Platform API and ``/simulator/*`` control requests.

    Args:
        center: The data served (generated or loaded from fixtures).
        clock: The virtual clock; views and the ``Date`` header follow it.
        tokens: OAuth token store.
        limiter: Per-token request budget.
        limits: Details-query limits.
        latency_seconds: How far behind the clock the analytics data lags.
    """

    def __init__(
        self,
        center: ContactCenter,
        clock: VirtualClock,
        tokens: TokenStore,
        limiter: RateLimiter,
        limits: QueryLimits,
        latency_seconds: float = 0.0,
    ) -> None:
        self.center = center
        self.clock = clock
        self.store = ConversationStore(center.conversations)
        self.faults = FaultBook()
        self._tokens = tokens
        self._limiter = limiter
        self._limits = limits
        self._latency = timedelta(seconds=latency_seconds)
        self._stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._stats_lock = threading.Lock()

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
        rule = self.faults.take(request.method, path)
        if rule is not None:
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
        rule = self.faults.take(request.method, path)
        if rule is not None:
            if rule.status == 401:
                self._tokens.revoke(token)
            return self._error(fault_error(rule.status, rule.retry_after), request, token)
        try:
            budget = self._limiter.spend(token)
        except ApiError as exc:
            return self._error(exc, request, token)
        try:
            status, payload = self._route(request, path, params)
        except ApiError as exc:
            return self._error(exc, request, token)
        return Response(status, payload, budget.headers())

    def _route(self, request: Request, path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
        now_key = format_ts(self.clock.now() - self._latency)
        method = request.method
        if path == "/api/v2/analytics/conversations/details/query" and method == "POST":
            try:
                body = json.loads(request.body or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise bad_request(f"the request body is not valid JSON: {exc}") from None
            return 200, run_details_query(body, self.store, now_key, self._limits)
        if path == "/api/v2/analytics/conversations/details" and method == "GET":
            ids = [i for value in params.get("id", []) for i in value.split(",") if i.strip()]
            if not ids:
                raise bad_request("the id query parameter is required, e.g. ?id=a,b")
            views = [self.store.view(i.strip(), now_key) for i in ids]
            return 200, {"conversations": [v for v in views if v is not None]}
        match = _DETAILS_BY_ID.match(path)
        if match and method == "GET":
            view = self.store.view(match.group(1), now_key)
            if view is None:
                raise ApiError(404)
            return 200, view
        spec = LISTINGS.get(path)
        if spec is not None and method == "GET":
            return 200, listing_page(spec, getattr(self.center, spec.attribute), params)
        raise ApiError(404)

    # -- control endpoints -----------------------------------------------------------------------

    def _control(self, request: Request, path: str, params: dict[str, list[str]]) -> Response:
        headers = self._budget(_ANONYMOUS)
        method = request.method
        try:
            if path == "/simulator/truth" and method == "GET":
                start = _optional_time(params, "start")
                end = _optional_time(params, "end")
                return Response(200, {"conversations": self.store.final(start, end)}, headers)
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
        return {"requests": requests, "total": total}


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
