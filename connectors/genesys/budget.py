"""One API request budget for the whole application, shared by the driver and every executor.

Genesys allows about 300 requests a minute per OAuth client (`inin-ratelimit-allowed`), and
every process of the application spends from that one allowance: the capture partitions on the
executors, the watchlist and the clock on the driver. Each process therefore counts its requests
in one MongoDB document per client and wall-clock minute (collection `api_budget` of the raw
database), with an atomic conditional `$inc`.

Priorities are shares of the minute's budget. A request of a priority is sent only while the
minute's count is below its share, so lower priorities leave headroom for higher ones:

    open conversations (watchlist)   100 %
    window (the 3-minute poll)        85 %
    sweep (trailing horizon)          60 %
    dimensions (entity listings)      40 %

A request that finds its share used up waits for the next minute. 429 answers and `Retry-After`
are still honoured by the client: the budget keeps us under the limit, it does not replace the
server's word.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from app.config import Secret
from app.errors import SinkError

log = logging.getLogger(__name__)

BUDGET_COLLECTION = "api_budget"
OPEN_CONVERSATIONS = "open_conversations"
WINDOW = "window"
SWEEP = "sweep"
DIMENSIONS = "dimensions"
# The share of the minute's budget each priority may fill, highest priority first.
PRIORITY_SHARES: dict[str, float] = {
    OPEN_CONVERSATIONS: 1.0,
    WINDOW: 0.85,
    SWEEP: 0.6,
    DIMENSIONS: 0.4,
}
# Minute buckets older than this are deleted by the process that opens a new minute.
KEEP_MINUTES = 24 * 60


@dataclass(frozen=True)
class BudgetTarget:
    """Where the shared counters live; pickled with the stream reader to the executors."""

    uri: Secret
    database: str
    requests_per_minute: int


def share_cap(requests_per_minute: int, priority: str) -> int:
    """How many requests of a minute a priority may be sent under (at least 1)."""
    try:
        share = PRIORITY_SHARES[priority]
    except KeyError:
        raise ValueError(
            f"unknown request priority {priority!r}; expected one of {', '.join(PRIORITY_SHARES)}"
        ) from None
    return max(1, int(requests_per_minute * share))


class RequestBudget:
    """Takes one request's slot from the application's shared per-minute budget.

    One per API client (per process); holds a pymongo client, so it is created where it is used
    and never pickled.
    """

    def __init__(
        self,
        target: BudgetTarget,
        client_id: str,
        priority: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cap = share_cap(target.requests_per_minute, priority)
        self.priority = priority
        self.client_id = client_id
        self.clock = clock
        self.sleep = sleep
        self.waits = 0
        self._mongo: MongoClient[dict[str, Any]] = MongoClient(target.uri.reveal())
        self._buckets = self._mongo[target.database][BUDGET_COLLECTION]
        self._opened_minute: int | None = None

    def close(self) -> None:
        """Close the connection pool."""
        self._mongo.close()

    def take(self) -> None:
        """Block until this request fits its priority's share of the current minute.

        Raises:
            SinkError: the budget's MongoDB server cannot be reached; the batch fails and is
                retried, rather than sending requests nobody counts.
        """
        while True:
            minute = int(self.clock() // 60)
            try:
                self._open(minute)
                # No projection: FerretDB 1.24 does not implement findAndModify's `fields`.
                taken = self._buckets.find_one_and_update(
                    {"_id": self._key(minute), "used": {"$lt": self.cap}},
                    {"$inc": {"used": 1, f"used_{self.priority}": 1}},
                )
            except PyMongoError as error:
                raise SinkError(
                    f"the API request budget in MongoDB is unreachable: {type(error).__name__}"
                ) from error
            if taken is not None:
                return
            self.waits += 1
            # Into the next minute, with jitter so that waiting executors do not all fire at once.
            wait = (minute + 1) * 60 - self.clock() + random.uniform(0.05, 1.0)
            log.warning(
                "API budget: %s requests used up %d of this minute's slots; waiting %.1fs",
                self.priority,
                self.cap,
                wait,
            )
            self.sleep(max(0.0, wait))

    def _key(self, minute: int) -> str:
        return f"{self.client_id}|{minute}"

    def _open(self, minute: int) -> None:
        """Make sure the minute's counter exists (once per minute and process)."""
        if self._opened_minute == minute:
            return
        document = {"client_id": self.client_id, "minute": minute, "used": 0}
        try:
            result = self._buckets.update_one(
                {"_id": self._key(minute)}, {"$setOnInsert": document}, upsert=True
            )
            created = result.upserted_id is not None
        except (DuplicateKeyError, KeyError):
            # Another process created it at the same instant (FerretDB answers that race with
            # a reply pymongo reads as KeyError('nModified')): it exists, which is all we need.
            created = False
        if created:
            self._buckets.delete_many(
                {"client_id": self.client_id, "minute": {"$lt": minute - KEEP_MINUTES}}
            )
        self._opened_minute = minute
