"""Org changes over virtual time: agents who leave, queues, skills and codes renamed or removed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator.timefmt import format_ts, format_ts_seconds

Entity = dict[str, Any]

# The order in which kinds of change are planned; a plan of n changes takes the first n.
_KINDS = (
    ("users", "leave"),
    ("queues", "rename"),
    ("skills", "rename"),
    ("wrapup_codes", "rename"),
    ("wrapup_codes", "remove"),
    ("users", "leave"),
    ("skills", "remove"),
    ("queues", "remove"),
)
_RENAME_SUFFIXES = ("EMEA", "Tier 2", "New", "Legacy")


@dataclass(frozen=True)
class OrgChange:
    """One change to a listed entity at a virtual instant.

    Attributes:
        at: When the change happens (virtual time).
        listing: The `ContactCenter` attribute of the entity: users, queues, skills or
            wrapup_codes.
        entity_id: The entity's id.
        kind: ``leave`` (a user's state becomes ``deleted``), ``rename`` or ``remove`` (the
            entity disappears from its listing).
        new_name: The name after a rename.
    """

    at: datetime
    listing: str
    entity_id: str
    kind: str
    new_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the change as a JSON object for ``/simulator/truth/entities``."""
        body: dict[str, Any] = {
            "at": format_ts(self.at),
            "listing": self.listing,
            "id": self.entity_id,
            "kind": self.kind,
        }
        if self.new_name is not None:
            body["newName"] = self.new_name
        return body


def plan_org_changes(
    listings: dict[str, Sequence[Entity]], count: int, seed: int, start: datetime, end: datetime
) -> tuple[OrgChange, ...]:
    """Plan ``count`` changes at seeded instants in ``[start, end)``, sorted by time.

    Only active users leave, and no entity changes twice, so each change is visible on its own.
    """
    rng = random.Random(f"org-changes:{seed}")
    span = (end - start).total_seconds()
    taken: set[str] = set()
    changes = []
    for index in range(count):
        listing, kind = _KINDS[index % len(_KINDS)]
        candidates = [
            entity
            for entity in listings[listing]
            if entity["id"] not in taken and entity.get("state", "active") == "active"
        ]
        if not candidates:
            continue
        entity = rng.choice(candidates)
        taken.add(entity["id"])
        at = start + timedelta(seconds=round(rng.uniform(0, span)))
        new_name = None
        if kind == "rename":
            new_name = f"{entity['name']} {rng.choice(_RENAME_SUFFIXES)}"
        changes.append(OrgChange(at, listing, entity["id"], kind, new_name))
    return tuple(sorted(changes, key=lambda change: (change.at, change.entity_id)))


def entities_at(
    listing: str, entities: Sequence[Entity], changes: Sequence[OrgChange], now: datetime
) -> list[Entity]:
    """Return the entities of ``listing`` as they are at ``now``, after every earlier change."""
    due = {c.entity_id: c for c in changes if c.listing == listing and c.at <= now}
    if not due:
        return list(entities)
    current = []
    for entity in entities:
        change = due.get(entity["id"])
        if change is None:
            current.append(entity)
        elif change.kind != "remove":
            current.append(_changed(entity, change))
    return current


def _changed(entity: Entity, change: OrgChange) -> Entity:
    changed = dict(entity)
    if change.kind == "leave":
        changed["state"] = "deleted"
    elif change.new_name is not None:
        changed["name"] = change.new_name
    if "version" in changed:
        # Users carry an int version, skills a string one (as the API sends them).
        version = changed["version"]
        changed["version"] = str(int(version) + 1) if isinstance(version, str) else version + 1
    if "dateModified" in changed:
        seconds_only = len(str(changed["dateModified"])) == len("2024-01-01T00:00:00Z")
        changed["dateModified"] = (
            format_ts_seconds(change.at) if seconds_only else format_ts(change.at)
        )
    return changed
