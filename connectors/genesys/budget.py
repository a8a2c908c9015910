"""One API request budget for the whole application, shared by the driver and every executor.

Genesys allows about 300 requests a minute per OAuth client (`inin-ratelimit-allowed`), and
every process of the application spends from that one allowance: the capture partitions on the
executors, the watchlist and the clock on the driver. Each request takes a slot: a document
`<client id>|<wall-clock minute>|<slot number>` inserted into the collection `api_budget` of the
raw database. The unique `_id` makes a slot go to one process only, on MongoDB and on FerretDB
alike (FerretDB 1.24 applies `findAndModify` without isolation, so a conditional counter could
be overshot by two processes reading the same count).

Priorities are shares of the minute's budget. A request of a priority is sent only while the
minute's taken slots are fewer than its share, so lower priorities leave headroom for higher ones:

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
# Slots of minutes older than this are deleted by the process that takes a minute's first slot:
# the collection stays small (each take counts the minute's slots without an index).
KEEP_MINUTES = 10


@dataclass(frozen=True)
class BudgetTarget:
    """Where the shared slots live; pickled with the stream reader to the executors."""

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
        self._slots = self._mongo[target.database][BUDGET_COLLECTION]

    def close(self) -> None:
        """Close the connection pool."""
        self._mongo.close()

    def take(self) -> None:
        """Block until this request holds a slot of the current minute within its priority's share.

        Raises:
            SinkError: the budget's MongoDB server cannot be reached; the batch fails and is
                retried, rather than sending requests nobody counts.
        """
        while True:
            minute = int(self.clock() // 60)
            try:
                if self._take_slot(minute):
                    return
            except PyMongoError as error:
                raise SinkError(
                    f"the API request budget in MongoDB is unreachable: {type(error).__name__}"
                ) from error
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

    def _take_slot(self, minute: int) -> bool:
        """Insert the lowest free slot of `minute` below the cap; False when there is none.

        Starts at the number of slots taken (slots are taken in order, so that is the lowest
        free one unless another process takes it first), then walks up on each collision.
        """
        taken = self._slots.count_documents({"client_id": self.client_id, "minute": minute})
        for slot in range(taken, self.cap):
            document = {
                "_id": f"{self.client_id}|{minute}|{slot}",
                "client_id": self.client_id,
                "minute": minute,
                "slot": slot,
                "priority": self.priority,
            }
            try:
                self._slots.insert_one(document)
            except DuplicateKeyError:
                continue
            if slot == 0:
                self._slots.delete_many(
                    {"client_id": self.client_id, "minute": {"$lt": minute - KEEP_MINUTES}}
                )
            return True
        return False
