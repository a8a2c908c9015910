"""Fixture mode: a contact centre loaded from a folder of recorded Genesys payload files."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from simulator.generator import ContactCenter
from simulator.timefmt import ts_key

logger = logging.getLogger(__name__)

Record = dict[str, Any]

# Listing files are recognised by the start of their name, e.g. ``users-listing.json``.
LISTING_PREFIXES = ("users", "queues", "skills", "wrapupcodes", "divisions")


class FixtureError(ValueError):
    """A fixture file could not be read or has an unexpected shape."""


def load_fixtures(folder: Path) -> ContactCenter:
    """Load every ``*.json`` file in ``folder`` into a `ContactCenter`.

    Files with a ``conversations`` key are details-query responses whose records are served as
    final records. Files named ``users*``, ``queues*``, ``skills*``, ``wrapupcodes*`` or
    ``divisions*`` are listings whose ``entities`` are served. Other JSON files are ignored.

    Raises:
        FixtureError: If the folder is missing, a file is not valid JSON, or a recognised file
            does not have the expected shape.
    """
    if not folder.is_dir():
        raise FixtureError(f"fixture folder {str(folder)!r} does not exist or is not a folder")
    listings: dict[str, list[Record]] = {prefix: [] for prefix in LISTING_PREFIXES}
    conversations: dict[str, Record] = {}
    for path in sorted(folder.glob("*.json")):
        payload = _read_json(path)
        prefix = next((p for p in LISTING_PREFIXES if path.name.startswith(p)), None)
        if isinstance(payload, dict) and "conversations" in payload:
            for record in _conversation_records(path, payload["conversations"]):
                conversations[record["conversationId"]] = record
        elif prefix is not None:
            listings[prefix].extend(_listing_entities(path, payload))
        else:
            logger.info("ignoring fixture file %s: neither a details response nor a listing", path)
    ordered = sorted(
        conversations.values(),
        key=lambda rec: (ts_key(rec["conversationStart"]), rec["conversationId"]),
    )
    logger.info("loaded fixtures from %s: %d conversations", folder, len(ordered))
    return ContactCenter(
        divisions=tuple(listings["divisions"]),
        skills=tuple(listings["skills"]),
        queues=tuple(listings["queues"]),
        users=tuple(listings["users"]),
        wrapup_codes=tuple(listings["wrapupcodes"]),
        conversations=tuple(ordered),
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FixtureError(f"fixture file {str(path)!r} is not readable JSON: {exc}") from exc


def _conversation_records(path: Path, records: Any) -> list[Record]:
    if not isinstance(records, list):
        raise FixtureError(
            f"fixture file {str(path)!r}: 'conversations' must be a list, "
            f"got {type(records).__name__}"
        )
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("conversationId"), str):
            raise FixtureError(
                f"fixture file {str(path)!r}: conversations[{index}] needs a string conversationId"
            )
        try:
            ts_key(record["conversationStart"])
            if "conversationEnd" in record:
                ts_key(record["conversationEnd"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FixtureError(
                f"fixture file {str(path)!r}: conversations[{index}] has a missing or invalid "
                f"conversationStart/conversationEnd ({exc}); expected ISO-8601 timestamps"
            ) from exc
    return records


def _listing_entities(path: Path, payload: Any) -> list[Record]:
    entities = payload.get("entities") if isinstance(payload, dict) else None
    if not isinstance(entities, list) or not all(isinstance(item, dict) for item in entities):
        raise FixtureError(
            f"fixture file {str(path)!r} is named like a listing but has no 'entities' list "
            "of objects"
        )
    return entities
