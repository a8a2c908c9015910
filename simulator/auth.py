"""OAuth client-credentials tokens and the per-token rate-limit budget, on real (monotonic) time."""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from simulator.errors import BAD_TOKEN, EXPIRED_TOKEN, NO_TOKEN, ApiError, rate_limited


class OAuthError(Exception):
    """A token request failure with an OAuth-style body (``error``/``error_description``)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        self.status = status
        self.error = error
        self.description = description
        super().__init__(f"{status} {error}: {description}")

    def body(self) -> dict[str, str]:
        """Return the OAuth error body the login host sends."""
        return {
            "error": self.error,
            "description": self.description,
            "error_description": self.description,
        }


@dataclass(frozen=True)
class Credentials:
    """An OAuth client the simulator accepts."""

    client_id: str
    client_secret: str


class TokenStore:
    """Issues, checks and revokes bearer tokens with a time-to-live in real seconds.

    Args:
        credentials: The client, or the clients, whose credentials are accepted.
        ttl_seconds: Token lifetime.
    """

    def __init__(
        self, credentials: Credentials | Sequence[Credentials], ttl_seconds: float
    ) -> None:
        known = [credentials] if isinstance(credentials, Credentials) else list(credentials)
        self._clients = known
        self._ttl = ttl_seconds
        self._expiry: dict[str, float] = {}
        self._owner: dict[str, str] = {}
        self._lock = threading.Lock()

    def grant(self, authorization: str | None, form_body: bytes) -> dict[str, object]:
        """Handle ``POST /oauth/token`` and return the token response body.

        Raises:
            OAuthError: On a wrong grant type (400) or unknown credentials (401).
        """
        form = {k: v[-1] for k, v in parse_qs(form_body.decode("utf-8", "replace")).items()}
        grant_type = form.get("grant_type")
        if grant_type != "client_credentials":
            raise OAuthError(
                400,
                "unsupported_grant_type",
                f"grant_type must be client_credentials, got {grant_type!r}",
            )
        client_id, secret = _basic_credentials(authorization)
        if client_id is None:
            # Lenient: many scripts post the client credentials in the form body instead.
            client_id, secret = form.get("client_id"), form.get("client_secret")
        client = self._matching(client_id, secret)
        if client is None:
            raise OAuthError(401, "invalid_client", "authentication failed")
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._expiry[token] = time.monotonic() + self._ttl
            self._owner[token] = client.client_id
        return {"access_token": token, "token_type": "bearer", "expires_in": int(self._ttl)}

    def check(self, authorization: str | None) -> str:
        """Return the bearer token of a request, or raise the 401 the API would send."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, *NO_TOKEN)
        token = authorization[7:].strip()
        if not token:
            raise ApiError(401, *NO_TOKEN)
        with self._lock:
            expiry = self._expiry.get(token)
        if expiry is None:
            raise ApiError(401, *BAD_TOKEN)
        if time.monotonic() >= expiry:
            raise ApiError(401, *EXPIRED_TOKEN)
        return token

    def revoke(self, token: str) -> None:
        """Forget ``token``: later requests with it get 401 ``bad.credentials``."""
        with self._lock:
            self._expiry.pop(token, None)

    def client_ids(self) -> list[str]:
        """Return the ids of the clients whose credentials are accepted."""
        return [client.client_id for client in self._clients]

    def client_of(self, token: str) -> str:
        """Return the client id a token was granted to ("" for a token never granted)."""
        with self._lock:
            return self._owner.get(token, "")

    def _matching(self, client_id: str | None, secret: str | None) -> Credentials | None:
        if client_id is None or secret is None:
            return None
        for client in self._clients:
            same_id = hmac.compare_digest(client_id.encode(), client.client_id.encode())
            same_secret = hmac.compare_digest(secret.encode(), client.client_secret.encode())
            if same_id and same_secret:
                return client
        return None


def _basic_credentials(authorization: str | None) -> tuple[str | None, str | None]:
    if not authorization or not authorization.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else (None, None)


@dataclass(frozen=True)
class Budget:
    """The rate-limit state reported in ``inin-ratelimit-*`` headers."""

    count: int
    allowed: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """Return the ``inin-ratelimit-*`` headers."""
        return {
            "inin-ratelimit-count": str(self.count),
            "inin-ratelimit-allowed": str(self.allowed),
            "inin-ratelimit-reset": str(self.reset_seconds),
        }


class RateLimiter:
    """A fixed one-minute window per key (token); requests over the budget are refused."""

    def __init__(self, per_minute: int, window_seconds: float = 60.0) -> None:
        self._allowed = per_minute
        self._window = window_seconds
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def peek(self, key: str) -> Budget:
        """Return the budget for ``key`` without spending from it."""
        with self._lock:
            started, count = self._current(key, time.monotonic())
            return Budget(count, self._allowed, self._reset(started, time.monotonic()))

    def spend(self, key: str) -> Budget:
        """Count one request for ``key`` and return the budget after it.

        Raises:
            ApiError: 429 with ``Retry-After`` when the window's budget is already spent.
        """
        with self._lock:
            now = time.monotonic()
            started, count = self._current(key, now)
            reset = self._reset(started, now)
            if count >= self._allowed:
                error = rate_limited(reset)
                error.headers.update(Budget(count, self._allowed, reset).headers())
                raise error
            self._windows[key] = (started, count + 1)
            return Budget(count + 1, self._allowed, reset)

    def _current(self, key: str, now: float) -> tuple[float, int]:
        started, count = self._windows.get(key, (now, 0))
        if now - started >= self._window:
            started, count = now, 0
        self._windows[key] = (started, count)
        return started, count

    def _reset(self, started: float, now: float) -> int:
        return max(1, math.ceil(started + self._window - now))
