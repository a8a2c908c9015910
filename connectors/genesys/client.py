"""A small Genesys Cloud Platform API client on `requests`.

It authenticates with OAuth client credentials, reuses the token until shortly before it expires,
refreshes it once on a 401, backs off on 429 (honouring `Retry-After`) and on 5xx, and pages both
the analytics details query (page numbers until a short page, or one without `conversations`)
and the entity listings (page numbers until `pageCount`). No token or secret ever reaches a log
or an error.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from app.config import GenesysSettings
from app.errors import FatalApiError, PagingCapError, RetriableApiError
from connectors.genesys.budget import RequestBudget

log = logging.getLogger(__name__)

# A token is renewed this long before Genesys says it expires, so that no request races expiry.
TOKEN_RENEW_MARGIN_SECONDS = 60.0
DETAILS_QUERY_PATH = "/api/v2/analytics/conversations/details/query"
DETAILS_MULTI_GET_PATH = "/api/v2/analytics/conversations/details"
# The multi-get takes ids in the query string; 100 keeps the URL well under common limits.
MULTI_GET_CHUNK = 100
# A details query is split when its totalHits passes this share of the paging cap (totals are
# approximate), but never into intervals shorter than MIN_SPLIT_SPAN.
SPLIT_ABOVE_SHARE = 0.8
MIN_SPLIT_SPAN = timedelta(minutes=1)
# 501 means "not implemented": retrying cannot help (the Genesys CLI makes the same exception).
NOT_RETRIED_5XX = {501}


# Access tokens shared by every client of this process: Spark reuses its Python workers for
# many partitions, and the driver makes a client per batch; each would otherwise log in once.
# Keyed by login host, client id and a digest of the secret; the value is (token, expires at).
_SHARED_TOKENS: dict[tuple[str, str, str], tuple[str, float]] = {}
_SHARED_TOKENS_LOCK = threading.Lock()


def forget_shared_tokens() -> None:
    """Drop every token this process holds (tests that count logins start from none)."""
    with _SHARED_TOKENS_LOCK:
        _SHARED_TOKENS.clear()


@dataclass
class RequestStats:
    """Counters of one client's traffic, reported per window by the capture source."""

    requests: int = 0
    pages: int = 0
    retries: int = 0
    throttled: int = 0
    token_refreshes: int = 0
    server_errors: int = 0
    # Details-query intervals split because they held more than the paging cap.
    splits: int = 0
    # Times a request waited for the next minute of the shared budget (budget.py).
    budget_waits: int = 0
    # The `total` every page of the last listing reported; None when pages disagreed (an
    # entity was added or deleted while paging) or did not say.
    listed_total: int | None = None
    last_date: datetime | None = field(default=None)

    def as_dict(self) -> dict[str, int | None]:
        """The counters as a plain dict (without the last `Date` header)."""
        return {
            "listed_total": self.listed_total,
            "requests": self.requests,
            "pages": self.pages,
            "retries": self.retries,
            "throttled": self.throttled,
            "token_refreshes": self.token_refreshes,
            "server_errors": self.server_errors,
            "splits": self.splits,
            "budget_waits": self.budget_waits,
        }


def _error_text(response: requests.Response) -> tuple[str, str]:
    """The Genesys error `code` and `message` of a response, tolerating non-JSON bodies."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    if not isinstance(body, dict):
        return "", str(body)[:200]
    code = str(body.get("code") or body.get("error") or "")
    message = str(body.get("message") or body.get("error_description") or "")
    return code, message[:300]


class GenesysClient:
    """Talks to one Genesys Cloud org as one OAuth client.

    Created on the executor that uses it (it holds a `requests.Session`, which is not meant to
    travel between processes); its settings are a picklable frozen dataclass. Its access token
    is shared with the process's other clients of the same OAuth client. With a `budget`,
    every API request (retries included) first takes a slot of the application's shared
    per-minute budget; the login host has its own limits and is not counted.
    """

    def __init__(
        self,
        settings: GenesysSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        budget: RequestBudget | None = None,
    ) -> None:
        self.settings = settings
        self.http = session or requests.Session()
        self.sleep = sleep
        self.budget = budget
        self.stats = RequestStats()
        self._token: str | None = None
        self._token_expires_at = 0.0

    # -- authentication ----------------------------------------------------------------------

    def _fetch_token(self) -> None:
        url = f"{self.settings.login_base_url}/oauth/token"
        try:
            response = self.http.post(
                url,
                data={"grant_type": "client_credentials"},
                auth=(self.settings.client_id, self.settings.client_secret.reveal()),
                timeout=self.settings.timeout_seconds,
            )
        except requests.RequestException as error:
            raise RetriableApiError(
                f"cannot reach the Genesys login host {self.settings.login_base_url}: "
                f"{type(error).__name__}"
            ) from None
        self.stats.requests += 1
        if response.status_code != 200:
            code, message = _error_text(response)
            # A throttled (429) or failing (5xx) login host is worth retrying later; the rest
            # (400, 401, 403) means the credentials or the region are wrong.
            retriable = response.status_code == 429 or response.status_code >= 500
            error_type = RetriableApiError if retriable else FatalApiError
            raise error_type(
                f"Genesys refused the client credentials of client id {self.settings.client_id!r} "
                f"(HTTP {response.status_code} {code}: {message}); check GENESYS_CLIENT_ID and "
                "GENESYS_CLIENT_SECRET and the region (GENESYS_REGION)",
                status=response.status_code,
                code=code,
            )
        body = response.json()
        self._token = str(body["access_token"])
        self._token_expires_at = time.monotonic() + float(body.get("expires_in", 86400))
        self.stats.token_refreshes += 1
        with _SHARED_TOKENS_LOCK:
            _SHARED_TOKENS[self._token_key()] = (self._token, self._token_expires_at)
        log.info("obtained a Genesys access token valid %ss", body.get("expires_in"))

    def _token_key(self) -> tuple[str, str, str]:
        secret = hashlib.sha256(self.settings.client_secret.reveal().encode()).hexdigest()
        return (self.settings.login_base_url, self.settings.client_id, secret)

    def _bearer(self) -> str:
        if self._token is None:
            with _SHARED_TOKENS_LOCK:
                self._token, self._token_expires_at = _SHARED_TOKENS.get(
                    self._token_key(), (None, 0.0)
                )
        if self._token is None or time.monotonic() > (
            self._token_expires_at - TOKEN_RENEW_MARGIN_SECONDS
        ):
            self._fetch_token()
        return f"Bearer {self._token}"

    def _drop_token(self) -> None:
        """Forget a token the API refused, here and for the process's other clients."""
        with _SHARED_TOKENS_LOCK:
            if _SHARED_TOKENS.get(self._token_key(), (None,))[0] == self._token:
                _SHARED_TOKENS.pop(self._token_key(), None)
        self._token = None

    # -- one request with retries ------------------------------------------------------------

    def _backoff_seconds(self, attempt: int) -> float:
        # Full jitter keeps several executors from retrying in lock step.
        return min(30.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2)

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        """Send one API request and return its JSON body, retrying what is worth retrying.

        Raises:
            RetriableApiError: throttled, 5xx or network failures outlasted `max_retries`.
            FatalApiError: 4xx other than 429, or a second 401 after a fresh token.
        """
        url = f"{self.settings.api_base_url}{path}"
        refreshed = False
        attempt = 0
        while True:
            if self.budget is not None:
                self.budget.take()
                self.stats.budget_waits = self.budget.waits
            try:
                response = self.http.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers={"Authorization": self._bearer(), "Accept": "application/json"},
                    timeout=self.settings.timeout_seconds,
                )
            except requests.RequestException as error:
                failure = f"{type(error).__name__} on {method} {path}"
                attempt = self._retry_or_raise(attempt, failure, self._backoff_seconds(attempt))
                continue
            self.stats.requests += 1
            self._note_date(response)
            status = response.status_code
            if status < 300:
                return response.json() if response.content else {}
            code, message = _error_text(response)
            if status == 401 and not refreshed:
                # Tokens can be revoked or expire early; one fresh token, then the same request.
                log.warning("HTTP 401 (%s) on %s %s: renewing the token once", code, method, path)
                self._drop_token()
                refreshed = True
                continue
            if status == 429:
                self.stats.throttled += 1
                wait = self._retry_after(response, attempt)
                attempt = self._retry_or_raise(attempt, f"HTTP 429 {code} on {path}", wait, status)
                continue
            if status >= 500 and status not in NOT_RETRIED_5XX:
                self.stats.server_errors += 1
                failure = f"HTTP {status} {code} on {method} {path}"
                attempt = self._retry_or_raise(attempt, failure, self._backoff_seconds(attempt))
                continue
            raise FatalApiError(
                f"Genesys answered HTTP {status} {code} to {method} {path}: {message}",
                status=status,
                code=code,
            )

    def _retry_after(self, response: requests.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After", "")
        try:
            seconds = float(header)
        except ValueError:
            seconds = self._backoff_seconds(attempt)
        if seconds > self.settings.max_retry_after_seconds:
            raise RetriableApiError(
                f"Genesys asked to wait {seconds:.0f}s (Retry-After), longer than the "
                f"{self.settings.max_retry_after_seconds:.0f}s this client waits; the batch "
                "fails and the next one retries",
                status=429,
            )
        # One second more than asked, since Retry-After is rounded down to whole seconds.
        return seconds + 1.0

    def _retry_or_raise(
        self, attempt: int, failure: str, wait: float, status: int | None = None
    ) -> int:
        if attempt >= self.settings.max_retries:
            raise RetriableApiError(
                f"{failure}: still failing after {attempt} retries", status=status
            )
        self.stats.retries += 1
        log.warning("%s; retry %d in %.1fs", failure, attempt + 1, wait)
        self.sleep(wait)
        return attempt + 1

    def _note_date(self, response: requests.Response) -> None:
        header = response.headers.get("Date")
        if header:
            try:
                self.stats.last_date = parsedate_to_datetime(header).astimezone(UTC)
            except (TypeError, ValueError):
                log.debug("ignoring an unparseable Date header")

    def close(self) -> None:
        """Release the HTTP session and the budget's connection."""
        self.http.close()
        if self.budget is not None:
            self.budget.close()

    # -- endpoints ---------------------------------------------------------------------------

    def server_now(self) -> datetime:
        """The API server's clock, from the `Date` header of a one-item division listing.

        The capture window follows the server, not the local clock: immune to local skew, and
        a simulator with a virtual clock can drive the pipeline through any hour it likes.
        """
        self.request("GET", "/api/v2/authorization/divisions", params={"pageSize": 1})
        if self.stats.last_date is None:
            log.warning("the API sent no Date header; using the local clock")
            return datetime.now(UTC)
        return self.stats.last_date

    def query_conversation_details(
        self, interval_start: datetime, interval_end: datetime
    ) -> Iterator[dict[str, Any]]:
        """Yield every conversation record of the details query over [start, end).

        Pages until a page has no `conversations` key (the API's end-of-results signal); the
        same conversation may come twice when records shift between pages, so callers upsert.
        When the first page's `totalHits` is above what one query may page through
        (`max_results`), the interval is split in halves until each half fits, so a catch-up
        after an outage never runs into the paging cap. A conversation overlapping both halves
        comes from both (upserts make that harmless).
        """
        interval = f"{_iso(interval_start)}/{_iso(interval_end)}"
        first = self._details_page(interval, 1)
        total_hits = int(first.get("totalHits") or 0)
        # totalHits is approximate while an interval still receives traffic: keep a margin.
        if total_hits > self.settings.max_results * SPLIT_ABOVE_SHARE:
            span = interval_end - interval_start
            if span < 2 * MIN_SPLIT_SPAN:
                raise PagingCapError(
                    f"details query {interval} reports {total_hits} conversations, too many to "
                    f"page through under the cap of {self.settings.max_results}; raise "
                    "GENESYS_MAX_RESULTS if the organisation's cap is higher"
                )
            middle = interval_start + span / 2
            middle = middle.replace(microsecond=(middle.microsecond // 1000) * 1000)
            self.stats.splits += 1
            log.info(
                "details query %s reports %d hits, near the paging cap %d: split in two",
                interval,
                total_hits,
                self.settings.max_results,
            )
            yield from self.query_conversation_details(interval_start, middle)
            yield from self.query_conversation_details(middle, interval_end)
            return
        page, page_number = first, 1
        while page.get("conversations"):
            yield from page["conversations"]
            # A short page is the last one: asking for the next would only fetch the empty page
            # that ends the results (one request per query saved; records indexed meanwhile
            # are caught by the next window's overlap, as they would be after that empty page).
            if len(page["conversations"]) < self.settings.page_size:
                return
            page_number += 1
            page = self._details_page(interval, page_number)

    def _details_page(self, interval: str, page_number: int) -> dict[str, Any]:
        body = {
            "interval": interval,
            "order": "asc",
            "orderBy": "conversationStart",
            "paging": {"pageSize": self.settings.page_size, "pageNumber": page_number},
        }
        page = self.request("POST", DETAILS_QUERY_PATH, body=body)
        self.stats.pages += 1
        return page

    def get_conversations(self, conversation_ids: list[str]) -> Iterator[dict[str, Any]]:
        """Yield the current records of the given conversations (multi-get, by chunks)."""
        for first in range(0, len(conversation_ids), MULTI_GET_CHUNK):
            chunk = conversation_ids[first : first + MULTI_GET_CHUNK]
            page = self.request("GET", DETAILS_MULTI_GET_PATH, params={"id": ",".join(chunk)})
            self.stats.pages += 1
            yield from page.get("conversations") or []

    def list_entities(
        self, path: str, params: dict[str, Any] | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Yield every entity of a page-number listing such as `/api/v2/users`.

        Afterwards `stats.listed_total` says how many entities the listing held, if every page
        agreed: the curate step trusts a listing to flag absent members only when it landed
        exactly that many (an entity deleted or renamed while paging can shift another one
        past a page boundary).
        """
        totals: set[object] = set()
        self.stats.listed_total = None
        page_number = 1
        while True:
            query = {**(params or {}), "pageSize": page_size, "pageNumber": page_number}
            page = self.request("GET", path, params=query)
            self.stats.pages += 1
            totals.add(page.get("total"))
            yield from page.get("entities") or []
            page_count = int(page.get("pageCount") or 0)
            if page_number >= page_count or not page.get("entities"):
                break
            page_number += 1
        total = totals.pop() if len(totals) == 1 else None
        self.stats.listed_total = total if isinstance(total, int) else None


def _iso(instant: datetime) -> str:
    """`2026-12-04T10:02:00.000Z`: the interval format of the Genesys documentation."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
