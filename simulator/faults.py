"""Injected failures for tests: rules that answer the next matching requests with an error."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class FaultRule:
    """One fault rule; ``times`` and ``after`` count down as matching requests arrive.

    Attributes:
        path_prefix: Requests whose path starts with this are matched.
        status: HTTP status to answer (400-599).
        times: How many matching requests get the fault.
        after: How many matching requests pass untouched first.
        retry_after: ``Retry-After`` seconds for a 429.
        method: Only match this HTTP method when set.
    """

    path_prefix: str
    status: int
    times: int = 1
    after: int = 0
    retry_after: int = 1
    method: str | None = None


def parse_rules(payload: Any) -> list[FaultRule]:
    """Validate a JSON fault payload (one rule object or a list of them).

    Raises:
        ValueError: Naming the bad rule, field and value, and what was expected.
    """
    items = payload if isinstance(payload, list) else [payload]
    rules = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"fault rule {index} must be a JSON object, got {item!r}")
        unknown = set(item) - {"path_prefix", "status", "times", "after", "retry_after", "method"}
        if unknown:
            raise ValueError(f"fault rule {index} has unknown fields {sorted(unknown)}")
        prefix = item.get("path_prefix")
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError(f"fault rule {index}: path_prefix must start with '/', got {prefix!r}")
        status = item.get("status")
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"fault rule {index}: status must be an int 400-599, got {status!r}")
        numbers = {}
        for name, default, minimum in (("times", 1, 1), ("after", 0, 0), ("retry_after", 1, 0)):
            value = item.get(name, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(
                    f"fault rule {index}: {name} must be an int >= {minimum}, got {value!r}"
                )
            numbers[name] = value
        method = item.get("method")
        if method is not None and not isinstance(method, str):
            raise ValueError(f"fault rule {index}: method must be a string, got {method!r}")
        rules.append(
            FaultRule(prefix, status, method=method.upper() if method else None, **numbers)
        )
    return rules


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

    def take(self, method: str, path: str) -> FaultRule | None:
        """Return the rule that fires for this request, if any, and consume one use of it."""
        with self._lock:
            for rule in self._rules:
                if not path.startswith(rule.path_prefix):
                    continue
                if rule.method is not None and rule.method != method:
                    continue
                if rule.after > 0:
                    rule.after -= 1
                    continue
                rule.times -= 1
                if rule.times <= 0:
                    self._rules.remove(rule)
                return rule
        return None
