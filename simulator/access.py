"""Division-based access: a client sees only conversations and entities of its divisions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class DivisionGrant:
    """The divisions one OAuth client may read; None means every division.

    Attributes:
        division_ids: The ids the client's role is granted on.
    """

    division_ids: frozenset[str] | None = None

    @classmethod
    def by_names(cls, names: Iterable[str] | None, divisions: Iterable[Record]) -> DivisionGrant:
        """Return the grant on the divisions named ``names`` (None: all divisions).

        Raises:
            ValueError: If a name is not a division of the org, listing the known names.
        """
        if names is None:
            return cls(None)
        by_name = {division["name"]: division["id"] for division in divisions}
        unknown = sorted(set(names) - set(by_name))
        if unknown:
            raise ValueError(f"unknown division names {unknown}; the org has {sorted(by_name)}")
        return cls(frozenset(by_name[name] for name in names))

    def sees_conversation(self, record: Record) -> bool:
        """A conversation is visible when any of its divisions is granted."""
        if self.division_ids is None:
            return True
        return any(division in self.division_ids for division in record.get("divisionIds", ()))

    def sees_entity(self, listing: str, entity: Record) -> bool:
        """Users, queues and wrap-up codes follow their division; skills belong to the org.

        A wrap-up code shared by every division carries the division id ``*``.
        """
        if self.division_ids is None or listing == "skills":
            return True
        if listing == "divisions":
            return entity.get("id") in self.division_ids
        division_id = (entity.get("division") or {}).get("id")
        return division_id == "*" or division_id in self.division_ids
