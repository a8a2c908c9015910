"""The `genesys` streaming data source: each micro-batch polls one window of the Genesys API.

Spark calls `initialOffset`, `latestOffset`, `partitions` and `commit` on the driver, and `read`
on executors with the pickled reader. Offsets are UTC instants (see `windows.py`); the rows are
API payloads as JSON text, one per entity, plus one control row per partition with its counts.

A batch has up to three passes, each a set of partitions: the window (every batch), the sweep of
the trailing horizon (every `sweep_seconds`) and the entity listings (every
`dimension_refresh_seconds`). Each pass spends the shared request budget at its own priority.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.types import StringType, StructField, StructType

from app.config import GenesysSettings, Secret, parse_instant, raw_uri_from_environment
from app.errors import ConfigError, PagingCapError
from connectors.genesys import budget
from connectors.genesys.budget import BudgetTarget, RequestBudget
from connectors.genesys.client import GenesysClient
from connectors.genesys.windows import (
    CaptureOffset,
    CaptureWindow,
    checkpointed_offset,
    day_end_intervals,
    dimensions_due,
    format_instant,
    local_checkpoint,
    next_offset_until,
    split_interval,
    sweep_due,
    sweep_interval,
)

log = logging.getLogger(__name__)

# The entity listings behind the dimensions: raw collection name -> (API path, query params).
# Users are listed with state=any so that agents who left stay known (they come back `deleted`).
DIMENSION_LISTINGS: dict[str, tuple[str, dict[str, str]]] = {
    "users": ("/api/v2/users", {"state": "any"}),
    "queues": ("/api/v2/routing/queues", {}),
    "skills": ("/api/v2/routing/skills", {}),
    "wrapup_codes": ("/api/v2/routing/wrapupcodes", {}),
    "divisions": ("/api/v2/authorization/divisions", {}),
}
CONVERSATIONS = "conversations"
CONTROL = "_control"
# A window longer than this is queried as several partitions, which run in parallel.
PARTITION_SPAN = timedelta(minutes=15)
# Sweep partitions are longer: a sweep re-reads hours that are mostly final, and fewer, fuller
# queries cost fewer requests (a long one is still split under the paging cap).
SWEEP_PARTITION_SPAN = timedelta(hours=2)
# The passes of a batch and the budget priority each spends at.
WINDOW_PASS = "window"
SWEEP_PASS = "sweep"
LISTING_PASS = "listing"
PASS_PRIORITIES = {
    WINDOW_PASS: budget.WINDOW,
    SWEEP_PASS: budget.SWEEP,
    LISTING_PASS: budget.DIMENSIONS,
}

CAPTURE_SCHEMA = StructType(
    [
        StructField("endpoint", StringType(), False),
        StructField("entity_id", StringType(), True),
        StructField("payload", StringType(), False),
        StructField("batch_key", StringType(), False),
        StructField("window_start", StringType(), False),
        StructField("window_end", StringType(), False),
        StructField("fetched_at", StringType(), False),
        # window, sweep or listing: the sweep lands only versions the raw layer lacks.
        StructField("capture_pass", StringType(), True),
    ]
)


@dataclass(frozen=True)
class CapturePartition(InputPartition):
    """One unit of API work in a batch: a conversation interval or one dimension listing."""

    endpoint: str
    interval_start: str
    interval_end: str
    batch_key: str
    window_start: str
    window_end: str
    capture_pass: str = WINDOW_PASS


def _option(options: dict[str, str], name: str, default: str = "") -> str:
    value = options.get(name, "")
    return value if value != "" else default


def genesys_settings_from_options(options: dict[str, str]) -> GenesysSettings:
    """Build the API settings from the source options; the secret comes from a file or env.

    The secret never travels as an option, because options show in query plans.
    """
    secret_file = _option(options, "client_secret_file")
    if secret_file:
        try:
            secret = Path(secret_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                [f"client_secret_file {secret_file!r} is unreadable: {error.strerror}"]
            ) from error
    else:
        secret = os.environ.get("GENESYS_CLIENT_SECRET", "")
    client_id = _option(options, "client_id", os.environ.get("GENESYS_CLIENT_ID", ""))
    api = _option(options, "api_base_url")
    problems = [
        message
        for missing, message in (
            (not api, "the genesys source needs the option api_base_url"),
            (not client_id, "the genesys source needs client_id (or GENESYS_CLIENT_ID)"),
            (not secret, "the genesys source needs client_secret_file or GENESYS_CLIENT_SECRET"),
        )
        if missing
    ]
    if problems:
        raise ConfigError(problems)
    return GenesysSettings(
        api_base_url=api.rstrip("/"),
        login_base_url=_option(options, "login_base_url", api).rstrip("/"),
        client_id=client_id,
        client_secret=Secret(secret),
        page_size=int(_option(options, "page_size", "100")),
        max_results=int(_option(options, "max_results", "10000")),
        max_retries=int(_option(options, "max_retries", "6")),
        requests_per_minute=int(_option(options, "requests_per_minute", "240")),
    )


def budget_target_from_options(
    options: dict[str, str], settings: GenesysSettings
) -> BudgetTarget | None:
    """The shared request budget, when the option `budget_database` names its database.

    Read on the driver; the URI comes from the environment the application was started with
    (never an option, which would show in query plans) and travels to the executors pickled,
    like the client secret. Embedded runs that configure the application from a dict rather
    than the environment get a warning and no shared budget (429s are still honoured).
    """
    database = _option(options, "budget_database")
    if not database:
        return None
    uri = raw_uri_from_environment()
    if uri is None:
        log.warning(
            "no MONGO_RAW_URI or MONGO_URI (or _FILE) in the environment: the capture's API "
            "requests are not counted against the shared budget of %s per minute",
            settings.requests_per_minute,
        )
        return None
    return BudgetTarget(uri, database, settings.requests_per_minute)


class GenesysStreamReader(DataSourceStreamReader):
    """Plans capture windows on the driver and polls the API on executors."""

    def __init__(self, options: dict[str, str]) -> None:
        self.settings = genesys_settings_from_options(options)
        self.trigger = timedelta(seconds=int(_option(options, "trigger_seconds", "120")))
        lookback = timedelta(seconds=int(_option(options, "lookback_seconds", "180")))
        self.overlap = lookback - self.trigger
        self.start = parse_instant(options["start"]) if _option(options, "start") else None
        self.end = parse_instant(options["end"]) if _option(options, "end") else None
        self.max_batch = timedelta(seconds=int(_option(options, "max_batch_seconds", "3600")))
        self.dimension_refresh = timedelta(
            seconds=int(_option(options, "dimension_refresh_seconds", "1800"))
        )
        self.sweep_every = timedelta(seconds=int(_option(options, "sweep_seconds", "0")))
        self.sweep_horizon = timedelta(
            seconds=int(_option(options, "sweep_horizon_seconds", "21600"))
        )
        self.sweep_days = int(_option(options, "sweep_days", "0"))
        self.budget = budget_target_from_options(options, self.settings)
        self._driver_client: GenesysClient | None = None
        self._initial: CaptureOffset | None = None
        self._known_until: datetime | None = None
        # Spark asks for `latestOffset` before it tells the reader where the stream stands, so
        # the reader reads its checkpoint itself (the pipeline passes its location): the first
        # batch of a run, fresh or restarted, then respects `max_batch` as every later one does.
        checkpoint = local_checkpoint(_option(options, "checkpoint_location"))
        self._fresh = False
        if checkpoint is not None:
            resumed = checkpointed_offset(checkpoint)
            self._known_until = resumed.until if resumed else None
            self._fresh = resumed is None

    def __getstate__(self) -> dict[str, Any]:
        # The driver's HTTP session stays on the driver; executors build their own client.
        state = dict(self.__dict__)
        state["_driver_client"] = None
        return state

    def _client(self) -> GenesysClient:
        if self._driver_client is None:
            # The clock request decides the window, so it spends at the window's priority.
            self._driver_client = self._new_client(WINDOW_PASS)
        return self._driver_client

    def _new_client(self, capture_pass: str) -> GenesysClient:
        spend = None
        if self.budget is not None:
            priority = PASS_PRIORITIES[capture_pass]
            spend = RequestBudget(self.budget, self.settings.client_id, priority)
        return GenesysClient(self.settings, budget=spend)

    def initialOffset(self) -> dict[str, str]:
        """Driver: where a query without a checkpoint begins (the start option, or now)."""
        if self._initial is None:
            begin = self.start or (self._client().server_now() - self.trigger - self.overlap)
            self._initial = CaptureOffset(begin.replace(microsecond=0))
            self._known_until = self._initial.until
        return self._initial.to_json()

    def latestOffset(self) -> dict[str, str]:
        """Driver, once per trigger: the API server's now, bounded by the end option.

        A bounded run that has reached its end stops asking the API for the time.
        """
        if self._fresh and self._known_until is None:
            self.initialOffset()
        known = self._known_until
        if self.end is not None and known is not None and known >= self.end:
            return CaptureOffset(self.end).to_json()
        now = self._client().server_now()
        until = next_offset_until(known, now, self.end, self.max_batch)
        return CaptureOffset(until).to_json()

    def partitions(self, start: dict[str, str], end: dict[str, str]) -> list[CapturePartition]:
        """Driver: the API work of the batch (start, end], the same for the same offsets."""
        window = CaptureWindow(
            CaptureOffset.from_json(start).until, CaptureOffset.from_json(end).until, self.overlap
        )
        # Spark plans with the checkpointed offsets, so from here on the reader knows where the
        # stream stands, also when it was just restarted.
        self._known_until = max(window.end, self._known_until or window.end)
        common = {
            "batch_key": window.batch_key,
            "window_start": format_instant(window.query_start),
            "window_end": format_instant(window.end),
        }
        parts = [
            CapturePartition(CONVERSATIONS, format_instant(a), format_instant(b), **common)
            for a, b in window.split(PARTITION_SPAN)
        ]
        floor = self.start - self.overlap if self.start else None
        sweep = sweep_interval(window, self.sweep_every, self.sweep_horizon, floor)
        day_ends = []
        if sweep_due(window, self.sweep_every):
            reach = sweep[0] if sweep else window.query_start
            day_ends = day_end_intervals(window, reach, self.sweep_days, floor)
        swept = day_ends + (split_interval(*sweep, SWEEP_PARTITION_SPAN) if sweep else [])
        parts += [
            CapturePartition(
                CONVERSATIONS, format_instant(a), format_instant(b), **common,
                capture_pass=SWEEP_PASS,
            )
            for a, b in swept
        ]  # fmt: skip
        first = self._initial is not None and start == self._initial.to_json()
        if dimensions_due(window.start, window.end, self.dimension_refresh, first):
            parts += [
                CapturePartition(
                    name, common["window_start"], common["window_end"], **common,
                    capture_pass=LISTING_PASS,
                )
                for name in DIMENSION_LISTINGS
            ]  # fmt: skip
        log.info(
            "planned capture batch %s: interval %s/%s, sweep %s (%d day ends), %d partitions",
            window.batch_key,
            common["window_start"],
            common["window_end"],
            "/".join(format_instant(i) for i in sweep) if sweep else "none",
            len(day_ends),
            len(parts),
        )
        return parts

    def commit(self, end: dict[str, str]) -> None:
        """Driver: the batch up to `end` is done; the raw layer holds what it captured."""
        until = CaptureOffset.from_json(end).until
        self._known_until = max(until, self._known_until or until)

    def read(self, partition: CapturePartition) -> Iterator[tuple[str, ...]]:
        """Executor: call the API for one partition and yield its payloads as JSON text.

        Errors are not swallowed: a failing API fails the batch, and the restarted query
        re-plans the same window, so nothing is skipped. The one exception is a sweep interval
        beyond the paging cap, which its control row records as `incomplete`.
        """
        client = self._new_client(partition.capture_pass)
        began = time.monotonic()
        try:
            yield from self._read_partition(partition, client, began)
        finally:
            client.close()

    def _read_partition(
        self, partition: CapturePartition, client: GenesysClient, began: float
    ) -> Iterator[tuple[str, ...]]:
        if partition.endpoint == CONVERSATIONS:
            records = client.query_conversation_details(
                parse_instant(partition.interval_start), parse_instant(partition.interval_end)
            )
            id_field = "conversationId"
        else:
            path, params = DIMENSION_LISTINGS[partition.endpoint]
            records = client.list_entities(path, params, page_size=100)
            id_field = "id"
        count = 0
        incomplete = None
        try:
            for record in records:
                count += 1
                yield self._row(partition, record.get(id_field), json.dumps(record), client)
        except PagingCapError as error:
            if partition.capture_pass != SWEEP_PASS:
                raise
            # A sweep re-reads what windows and the watchlist mostly have: an interval the
            # paging cap forbids (a day with thousands of conversations still open at its end)
            # must not stop the capture for good. It stays on record in the control row.
            incomplete = str(error)
            log.error("sweep partition %s incomplete: %s", partition.interval_start, error)
        control = {
            "endpoint": partition.endpoint,
            "capture_pass": partition.capture_pass,
            "interval_start": partition.interval_start,
            "interval_end": partition.interval_end,
            "records": count,
            "duration_ms": int((time.monotonic() - began) * 1000),
            **client.stats.as_dict(),
            **({"incomplete": incomplete} if incomplete else {}),
        }
        log.info("captured %s %s: %s", partition.endpoint, partition.interval_start, control)
        yield self._row(partition, None, json.dumps(control), client, endpoint=CONTROL)

    @staticmethod
    def _row(
        partition: CapturePartition,
        entity_id: object,
        payload: str,
        client: GenesysClient,
        endpoint: str | None = None,
    ) -> tuple[str, ...]:
        fetched = client.stats.last_date or datetime.now(UTC)
        return (
            endpoint or partition.endpoint,
            None if entity_id is None else str(entity_id),
            payload,
            partition.batch_key,
            partition.window_start,
            partition.window_end,
            format_instant(fetched),
            partition.capture_pass,
        )


class GenesysDataSource(DataSource):
    """`spark.readStream.format("genesys")`: Genesys Cloud conversations and dimensions."""

    @classmethod
    def name(cls) -> str:
        return "genesys"

    def schema(self) -> StructType:
        return CAPTURE_SCHEMA

    def streamReader(self, schema: StructType) -> GenesysStreamReader:
        return GenesysStreamReader(dict(self.options))
