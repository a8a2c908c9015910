"""Injected failures for tests: rules that answer the next matching requests with an error.

A rule can also be scheduled on the virtual clock (``from``/``until``), aimed at one page of a
paged request (``page``), slow a response down (``delay_seconds``) or drop the connection
without an answer (``drop``), which a client sees as a timeout or a reset.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.timefmt import parse_ts

_FIELDS = {
    "path_prefix", "status", "times", "after", "retry_after", "method",
    "page", "delay_seconds", "drop", "from", "until",
}  # fmt: skip


@dataclass
class FaultRule:
    """One fault rule; ``times`` and ``after`` count down as matching requests arrive.

    Attributes:
        path_prefix: Requests whose path starts with this are matched.
        status: HTTP status to answer (400-599); None answers normally (after ``delay_seconds``).
        times: How many matching requests get the fault.
        after: How many matching requests pass untouched first.
        retry_after: ``Retry-After`` seconds for a 429.
        method: Only match this HTTP method when set.
        page: Only match requests for this page number (details-query ``paging.pageNumber``
            or a listing's ``pageNumber``; a request without one asks for page 1).
        delay_seconds: Real seconds to wait before answering (slow responses, timeouts).
        drop: Close the connection without any answer.
        active_from: Match only from this virtual instant on.
        active_until: Match only before this virtual instant.
    """

    path_prefix: str
    status: int | None
    times: int = 1
    after: int = 0
    retry_after: int = 1
    method: str | None = None
    page: int | None = None
    delay_seconds: float = 0.0
    drop: bool = False
    active_from: datetime | None = None
    active_until: datetime | None = None

    def applies(self, method: str, path: str, page: int, now: datetime) -> bool:
        """Return whether this rule matches the request (before ``after`` is counted)."""
        if not path.startswith(self.path_prefix):
            return False
        if self.method is not None and self.method != method:
            return False
        if self.page is not None and self.page != page:
            return False
        if self.active_from is not None and now < self.active_from:
            return False
        return self.active_until is None or now < self.active_until


def parse_rules(payload: Any) -> list[FaultRule]:
    """Validate a JSON fault payload (one rule object or a list of them).

    Raises:
        ValueError: Naming the bad rule, field and value, and what was expected.
    """
    items = payload if isinstance(payload, list) else [payload]
    return [_parse_rule(index, item) for index, item in enumerate(items)]


def _parse_rule(index: int, item: Any) -> FaultRule:
    if not isinstance(item, dict):
        raise ValueError(f"fault rule {index} must be a JSON object, got {item!r}")
    unknown = set(item) - _FIELDS
    if unknown:
        raise ValueError(f"fault rule {index} has unknown fields {sorted(unknown)}")
    prefix = item.get("path_prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ValueError(f"fault rule {index}: path_prefix must start with '/', got {prefix!r}")
    delay = item.get("delay_seconds", 0)
    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
        raise ValueError(f"fault rule {index}: delay_seconds must be a number >= 0, got {delay!r}")
    drop = item.get("drop", False)
    if not isinstance(drop, bool):
        raise ValueError(f"fault rule {index}: drop must be true or false, got {drop!r}")
    status = item.get("status")
    # A rule that only slows or drops a request may leave the status out.
    status_optional = status is None and (delay > 0 or drop)
    if not status_optional and (not isinstance(status, int) or not 400 <= status <= 599):
        raise ValueError(f"fault rule {index}: status must be an int 400-599, got {status!r}")
    numbers = {}
    for name, default, minimum in (("times", 1, 1), ("after", 0, 0), ("retry_after", 1, 0)):
        numbers[name] = _int_field(index, item, name, default, minimum)
    page = item.get("page")
    if page is not None:
        page = _int_field(index, item, "page", 1, 1)
    method = item.get("method")
    if method is not None and not isinstance(method, str):
        raise ValueError(f"fault rule {index}: method must be a string, got {method!r}")
    return FaultRule(
        prefix,
        status,
        method=method.upper() if method else None,
        page=page,
        delay_seconds=float(delay),
        drop=drop,
        active_from=_instant_field(index, item, "from"),
        active_until=_instant_field(index, item, "until"),
        **numbers,
    )


def _int_field(index: int, item: dict[str, Any], name: str, default: int, minimum: int) -> int:
    value = item.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"fault rule {index}: {name} must be an int >= {minimum}, got {value!r}")
    return value


def _instant_field(index: int, item: dict[str, Any], name: str) -> datetime | None:
    value = item.get(name)
    if value is None:
        return None
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise ValueError(f"fault rule {index}: {name} must be an ISO-8601 instant: {exc}") from None


class FaultBook:
    """The active fault rules, consulted in insertion order for every API request."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rules: list[FaultRule]) -> int:
        """Append ``rules`` and return how many rules are active."""
        with self._lock:
            self._rules.extend(rules)
            return len(self._rules)

    def clear(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._rules.clear()

    def count(self) -> int:
        """Return the number of active rules."""
        with self._lock:
            return len(self._rules)

    def take(
        self, method: str, path: str, page: int = 1, now: datetime | None = None
    ) -> FaultRule | None:
        """Return the rule that fires for this request, if any, and consume one use of it.

        Args:
            method: The HTTP method.
            path: The request path.
            page: The page number the request asks for (1 when it has none).
            now: The virtual instant; rules with a window never match without it.
        """
        with self._lock:
            for rule in self._rules:
                scheduled = rule.active_from is not None or rule.active_until is not None
                if scheduled and now is None:
                    continue
                if not rule.applies(method, path, page, now or datetime.min):
                    continue
                if rule.after > 0:
                    rule.after -= 1
                    continue
                rule.times -= 1
                if rule.times <= 0:
                    self._rules.remove(rule)
                return rule
        return None
