"""The seeded org: divisions, skills, queues, users and wrap-up codes shaped as listing entities."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator.timefmt import format_ts, format_ts_seconds

Entity = dict[str, Any]

_DIVISIONS = (
    ("Home", "The default division"),
    ("Sales", "Outbound and inbound sales"),
    ("Customer Care", ""),
)
_SKILLS = (
    "English",
    "Spanish",
    "Billing",
    "Technical Support",
    "Sales",
    "Returns",
    "VIP",
    "Retention",
)
_QUEUES = (
    ("General Support", 0, ("English", "Technical Support")),
    ("Billing Queue", 0, ("Billing",)),
    ("Sales Inbound", 1, ("Sales", "English")),
    ("Outbound Sales", 1, ("Sales",)),
    ("Care Chat", 2, ("English", "Returns", "VIP")),
    ("Care Spanish", 2, ("Spanish", "Retention")),
)
_WRAPUP_CODES = (
    "Resolved",
    "Follow-up Required",
    "Billing Question",
    "Sale Completed",
    "No Sale",
    "Wrong Number",
    "Escalated",
    "Callback Requested",
)
_AGENT_WORDS = (
    "Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliet",
    "Kilo", "Lima", "Mike", "November", "Oscar", "Papa", "Quebec", "Romeo", "Sierra", "Tango",
)  # fmt: skip
_TITLES = ("Agent", "Senior Agent", "Team Lead", "Junior")


@dataclass(frozen=True)
class QueueInfo:
    """Routing facts about a queue that listings do not expose but conversations need.

    Attributes:
        queue_id: The queue id.
        name: The queue name.
        division_id: The id of the queue's division.
        skill_ids: Skills requested by conversations routed through this queue.
        acw_timeout_ms: After-call-work timeout before the system wrap-up code applies.
    """

    queue_id: str
    name: str
    division_id: str
    skill_ids: tuple[str, ...]
    acw_timeout_ms: int


@dataclass(frozen=True)
class Organisation:
    """All org entities, shaped like the entities of the real listing endpoints."""

    divisions: tuple[Entity, ...]
    skills: tuple[Entity, ...]
    queues: tuple[Entity, ...]
    users: tuple[Entity, ...]
    wrapup_codes: tuple[Entity, ...]
    queue_info: tuple[QueueInfo, ...]


def new_uuid(rng: random.Random) -> str:
    """Return a lowercase version-4 UUID string drawn from ``rng`` (deterministic per seed)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def division_ref(division: Entity, *, blank_name: bool = False) -> Entity:
    """Return the embedded ``{id, name, selfUri}`` reference to a division."""
    return {
        "id": division["id"],
        "name": "" if blank_name else division["name"],
        "selfUri": division["selfUri"],
    }


def build_organisation(rng: random.Random, *, agents: int, anchor: datetime) -> Organisation:
    """Build the org entities deterministically from ``rng``.

    Args:
        rng: The seeded random source; the draw order is part of the determinism contract.
        agents: How many users to create.
        anchor: An instant before which all creation/modification dates lie.
    """
    if agents < 1:
        raise ValueError(f"agents must be >= 1, got {agents!r}")
    divisions = tuple(
        {
            "id": new_uuid(rng),
            "name": name,
            "description": description,
            "homeDivision": index == 0,
            "selfUri": "",
        }
        for index, (name, description) in enumerate(_DIVISIONS)
    )
    for division in divisions:
        division["selfUri"] = f"/api/v2/authorization/divisions/{division['id']}"
    skills = tuple(_skill(rng, name, anchor) for name in _SKILLS)
    skill_ids = {skill["name"]: skill["id"] for skill in skills}
    users = tuple(_user(rng, index, divisions, anchor) for index in range(agents))
    creator = users[0]["id"]
    queues, infos = [], []
    for name, division_index, skill_names in _QUEUES:
        queue_id = new_uuid(rng)
        timeout_ms = rng.choice((15000, 30000, 60000))
        queues.append(_queue(rng, queue_id, name, divisions[division_index], creator, anchor))
        queues[-1]["acwSettings"]["timeoutMs"] = timeout_ms
        infos.append(
            QueueInfo(
                queue_id=queue_id,
                name=name,
                division_id=divisions[division_index]["id"],
                skill_ids=tuple(skill_ids[skill] for skill in skill_names),
                acw_timeout_ms=timeout_ms,
            )
        )
    codes = tuple(
        _wrapup_code(rng, name, divisions, index, creator, anchor)
        for index, name in enumerate(_WRAPUP_CODES)
    )
    return Organisation(divisions, skills, tuple(queues), users, codes, tuple(infos))


def _past(rng: random.Random, anchor: datetime, max_days: int) -> datetime:
    offset = timedelta(
        seconds=rng.randint(3600, max_days * 86400), milliseconds=rng.randint(0, 999)
    )
    return anchor - offset


def _skill(rng: random.Random, name: str, anchor: datetime) -> Entity:
    skill_id = new_uuid(rng)
    return {
        "id": skill_id,
        "name": name,
        "dateModified": format_ts_seconds(_past(rng, anchor, 900)),
        "state": "active",
        "version": str(rng.randint(1, 6)),
        "selfUri": f"/api/v2/routing/skills/{skill_id}",
    }


def _user(
    rng: random.Random, index: int, divisions: tuple[Entity, ...], anchor: datetime
) -> Entity:
    user_id = new_uuid(rng)
    word = _AGENT_WORDS[index % len(_AGENT_WORDS)]
    suffix = "" if index < len(_AGENT_WORDS) else f" {index // len(_AGENT_WORDS) + 1}"
    name = f"Agent {word}{suffix}"
    login = name.lower().replace(" ", ".") + "@example.com"
    roll = rng.random()
    # Roughly 10% inactive and 8% deleted (agents who left) so historical records reference them.
    state = "deleted" if roll < 0.08 else "inactive" if roll < 0.18 else "active"
    division = divisions[rng.randrange(len(divisions))]
    return {
        "id": user_id,
        "name": name,
        "division": division_ref(division, blank_name=rng.random() < 0.3),
        "chat": {"jabberId": f"{user_id.replace('-', '')[:24]}@exampleorg.orgspan.com"},
        "email": login,
        "primaryContactInfo": [{"address": login, "mediaType": "EMAIL", "type": "PRIMARY"}],
        "addresses": [],
        "state": state,
        "title": rng.choice(_TITLES),
        "username": login,
        "version": rng.randint(1, 40),
        "acdAutoAnswer": False,
        "selfUri": f"/api/v2/users/{user_id}",
    }


def _queue(
    rng: random.Random,
    queue_id: str,
    name: str,
    division: Entity,
    creator: str,
    anchor: datetime,
) -> Entity:
    created = _past(rng, anchor, 1500)
    members = rng.randint(5, 40)
    return {
        "id": queue_id,
        "name": name,
        "division": division_ref(division),
        "description": "",
        "dateCreated": format_ts(created),
        "dateModified": format_ts(created + timedelta(days=rng.randint(1, 300))),
        "modifiedBy": creator,
        "createdBy": creator,
        "memberCount": members,
        "userMemberCount": members,
        "joinedMemberCount": rng.randint(1, members),
        "mediaSettings": {
            "call": {
                "enableAutoAnswer": False,
                "alertingTimeoutSeconds": 8,
                "serviceLevel": {"percentage": 0.8, "durationMs": 20000},
            },
            "chat": {
                "enableAutoAnswer": False,
                "alertingTimeoutSeconds": 30,
                "serviceLevel": {"percentage": 0.8, "durationMs": 30000},
            },
        },
        "acwSettings": {"wrapupPrompt": "MANDATORY_TIMEOUT", "timeoutMs": 30000},
        "skillEvaluationMethod": rng.choice(("BEST", "ALL", "NONE")),
        "scoringMethod": "TimestampAndPriority",
        "autoAnswerOnly": False,
        "enableTranscription": False,
        "enableManualAssignment": False,
        "selfUri": f"/api/v2/routing/queues/{queue_id}",
    }


def _wrapup_code(
    rng: random.Random,
    name: str,
    divisions: tuple[Entity, ...],
    index: int,
    creator: str,
    anchor: datetime,
) -> Entity:
    code_id = new_uuid(rng)
    created = _past(rng, anchor, 1200)
    # One code is shared by every division, which the API shows as division id "*".
    division = {"id": "*"} if index == 0 else division_ref(divisions[index % len(divisions)])
    code: Entity = {
        "id": code_id,
        "name": name,
        "division": division,
        "dateCreated": format_ts(created),
        "createdBy": creator,
    }
    if rng.random() < 0.5:
        code["dateModified"] = format_ts(created + timedelta(days=rng.randint(1, 200)))
        code["modifiedBy"] = creator
    code["selfUri"] = f"/api/v2/routing/wrapupcodes/{code_id}"
    return code
