"""A seeded, deterministic contact centre: org entities plus Poisson-arriving conversations."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.conversations import ConversationBuilder
from simulator.org import Entity, build_organisation
from simulator.records import to_ms
from simulator.view import view_at

__all__ = ["ContactCenter", "build_contact_center", "view_at"]

logger = logging.getLogger(__name__)

Record = dict[str, Any]

# Agents who left or are inactive still appear in history, just less often than active ones.
_AGENT_WEIGHT = {"active": 1.0, "inactive": 0.4, "deleted": 0.4}


@dataclass(frozen=True)
class ContactCenter:
    """Everything the simulator serves: listing entities and final conversation records.

    Attributes:
        divisions: ``/api/v2/authorization/divisions`` entities.
        skills: ``/api/v2/routing/skills`` entities.
        queues: ``/api/v2/routing/queues`` entities.
        users: ``/api/v2/users`` entities, all states (active, inactive, deleted).
        wrapup_codes: ``/api/v2/routing/wrapupcodes`` entities.
        conversations: Final detail records, sorted by conversationStart then conversationId.
    """

    divisions: tuple[Entity, ...]
    skills: tuple[Entity, ...]
    queues: tuple[Entity, ...]
    users: tuple[Entity, ...]
    wrapup_codes: tuple[Entity, ...]
    conversations: tuple[Record, ...]


def build_contact_center(
    seed: int,
    *,
    agents: int,
    start: datetime,
    end: datetime,
    conversations_per_hour: float,
    hourly_profile: tuple[float, ...] | None = None,
) -> ContactCenter:
    """Build a contact centre whose conversations start in ``[start, end)``.

    The same arguments always give identical entities and records.

    Args:
        seed: Seed of the random source that drives every choice, ids included.
        agents: Number of users (some inactive, a few deleted).
        start: First possible conversation start (aware; naive means UTC).
        end: Conversations start strictly before this instant.
        conversations_per_hour: Mean Poisson arrival rate.
        hourly_profile: 24 multipliers of the rate, one per UTC hour of the day (a busy hour
            at 1.6, the night at 0.15); None keeps the rate flat all day.

    Raises:
        ValueError: If the window is empty, the rate is negative or the profile is malformed.
    """
    if end <= start:
        raise ValueError(f"end must be after start, got start={start!r} end={end!r}")
    if conversations_per_hour < 0:
        raise ValueError(f"conversations_per_hour must be >= 0, got {conversations_per_hour!r}")
    if hourly_profile is not None and (
        len(hourly_profile) != 24 or min(hourly_profile) < 0 or max(hourly_profile) <= 0
    ):
        raise ValueError(
            f"hourly_profile must hold 24 multipliers >= 0, not all 0, got {hourly_profile!r}"
        )
    rng = random.Random(seed)
    org = build_organisation(rng, agents=agents, anchor=start)
    weights = [_AGENT_WEIGHT.get(user["state"], 1.0) for user in org.users]
    builder = ConversationBuilder(rng, org, weights)
    start_ms, end_ms = to_ms(start), to_ms(end)
    records: list[Record] = []
    if conversations_per_hour > 0:
        peak = max(hourly_profile) if hourly_profile else 1.0
        rate_per_ms = conversations_per_hour * peak / 3_600_000.0
        cursor = float(start_ms)
        while True:
            cursor += rng.expovariate(rate_per_ms)
            if cursor >= end_ms:
                break
            # Thinning: arrivals drawn at the peak rate are kept in proportion to the hour's
            # rate. No extra draw without a profile, so flat-rate data stays as it was.
            if hourly_profile and rng.random() * peak >= hourly_profile[_utc_hour(cursor)]:
                continue
            records.append(builder.build(int(cursor)))
    records.sort(key=lambda rec: (rec["conversationStart"], rec["conversationId"]))
    logger.info(
        "built contact centre: seed=%d agents=%d conversations=%d", seed, agents, len(records)
    )
    return ContactCenter(
        divisions=org.divisions,
        skills=org.skills,
        queues=org.queues,
        users=org.users,
        wrapup_codes=org.wrapup_codes,
        conversations=tuple(records),
    )


def _utc_hour(epoch_ms: float) -> int:
    return int(epoch_ms // 3_600_000) % 24
