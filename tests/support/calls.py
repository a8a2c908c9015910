"""Hand-made conversations for tests that need one call at exact instants.

The simulator derives what the API shows at any instant from a conversation's final record
(segments and metrics appear as they happen), so one final record is enough to see a call live,
ended and wrapped up as the clock moves.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.fixtures import load_fixtures
from simulator.generator import ContactCenter
from simulator.timefmt import format_ts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "genesys"


def fixture_center(*calls: dict[str, Any]) -> ContactCenter:
    """The recorded org of the fixtures (users, queues, codes...) serving only `calls`."""
    center = load_fixtures(FIXTURES)
    ordered = sorted(calls, key=lambda call: call["conversationStart"])
    return dataclasses.replace(center, conversations=tuple(ordered))


def inbound_voice_call(
    center: ContactCenter, conversation_id: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """An inbound call answered by the first user of `center` after 20 s in its first queue,
    wrapped up with its first wrap-up code in the last 12 s, ending at `end`."""
    agent, queue = center.users[0]["id"], center.queues[0]["id"]
    code, division = center.wrapup_codes[0]["id"], center.divisions[0]["id"]
    answered = start + timedelta(seconds=20)
    wrap = end - timedelta(seconds=12)

    def segment(kind: str, begin: datetime, finish: datetime, **extra: Any) -> dict[str, Any]:
        return {
            "segmentStart": format_ts(begin),
            "segmentEnd": format_ts(finish),
            "segmentType": kind,
            "queueId": queue,
            "conference": False,
            **extra,
        }

    def session(sid: str, segments: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": "voice",
            "sessionId": f"{conversation_id[:8]}-{sid}",
            "direction": "inbound",
            "segments": segments,
            **extra,
        }

    talk_ms = int((wrap - answered).total_seconds() * 1000)
    acw_ms = int((end - wrap).total_seconds() * 1000)
    return {
        "conversationId": conversation_id,
        "conversationStart": format_ts(start),
        "conversationEnd": format_ts(end),
        "originatingDirection": "inbound",
        "divisionIds": [division],
        "participants": [
            {
                "participantId": f"{conversation_id[:8]}-customer",
                "purpose": "customer",
                "sessions": [session("c", [segment("interact", start, wrap)])],
            },
            {
                "participantId": f"{conversation_id[:8]}-acd",
                "purpose": "acd",
                "sessions": [
                    session(
                        "q",
                        [segment("interact", start, answered, disconnectType="transfer")],
                        metrics=[{"name": "nOffered", "value": 1, "emitDate": format_ts(start)}],
                    )
                ],
            },
            {
                "participantId": f"{conversation_id[:8]}-agent",
                "purpose": "agent",
                "userId": agent,
                "sessions": [
                    session(
                        "a",
                        [
                            segment("alert", start + timedelta(seconds=15), answered),
                            segment("interact", answered, wrap, disconnectType="peer"),
                            segment("wrapup", wrap, end, wrapUpCode=code),
                        ],
                        metrics=[
                            {"name": "tTalk", "value": talk_ms, "emitDate": format_ts(wrap)},
                            {"name": "tAcw", "value": acw_ms, "emitDate": format_ts(end)},
                        ],
                    )
                ],
            },
        ],
    }
