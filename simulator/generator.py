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
) -> ContactCenter:
    """Build a contact centre whose conversations start in ``[start, end)``.

    The same arguments always give identical entities and records.

    Args:
        seed: Seed of the random source that drives every choice, ids included.
        agents: Number of users (some inactive, a few deleted).
        start: First possible conversation start (aware; naive means UTC).
        end: Conversations start strictly before this instant.
        conversations_per_hour: Mean Poisson arrival rate.

    Raises:
        ValueError: If the window is empty or the rate is negative.
    """
    if end <= start:
        raise ValueError(f"end must be after start, got start={start!r} end={end!r}")
    if conversations_per_hour < 0:
        raise ValueError(f"conversations_per_hour must be >= 0, got {conversations_per_hour!r}")
    rng = random.Random(seed)
    org = build_organisation(rng, agents=agents, anchor=start)
    weights = [_AGENT_WEIGHT.get(user["state"], 1.0) for user in org.users]
    builder = ConversationBuilder(rng, org, weights)
    start_ms, end_ms = to_ms(start), to_ms(end)
    records: list[Record] = []
    if conversations_per_hour > 0:
        rate_per_ms = conversations_per_hour / 3_600_000.0
        cursor = float(start_ms)
        while True:
            cursor += rng.expovariate(rate_per_ms)
            if cursor >= end_ms:
                break
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
