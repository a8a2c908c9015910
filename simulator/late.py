"""Late changes: wrap-ups and metrics that reach a record after the call, re-opened e-mails.

Genesys keeps changing a detail record after its conversation ended: wrap-up segments and the
metrics emitted at the end of after-call work can arrive seconds to minutes later (rarely
hours or days), and an e-mail conversation can be re-opened, which removes ``conversationEnd``
until the new exchange ends. Each affected conversation gets revisions (`Revision`): an earlier
record without the change, then the final record from the instant the change arrives.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from simulator.indexing import Revision
from simulator.records import metric, ms_to_ts, segment, to_ms
from simulator.timefmt import parse_ts, ts_key

Record = dict[str, Any]

# Metrics emitted when after-call work ends; they arrive with the wrap-up segment.
_WRAPUP_METRICS = ("tAcw", "tHandle")


@dataclass(frozen=True)
class LateChanges:
    """How often records change after their conversation ended.

    Attributes:
        wrapup_share: Share of conversations with a wrap-up whose wrap-up arrives late.
        wrapup_delay_max_seconds: A late wrap-up arrives 5 s to this long after ACW ended...
        wrapup_hours_share: ...except this share of them, which arrive 1 to 6 hours late.
        email_reopen_share: Share of answered e-mails that are re-opened after they ended.
    """

    wrapup_share: float = 0.0
    wrapup_delay_max_seconds: float = 600.0
    wrapup_hours_share: float = 0.0
    email_reopen_share: float = 0.0

    @property
    def enabled(self) -> bool:
        """Whether any record changes late."""
        return self.wrapup_share > 0 or self.email_reopen_share > 0


def plan_late_changes(
    records: Iterable[Record], settings: LateChanges, seed: int
) -> tuple[list[Record], dict[str, tuple[Revision, ...]]]:
    """Return the final records and the revisions of those that change late.

    Draws come from their own random source, so the same seed gives the same plan and the
    generated conversations themselves do not depend on whether late changes are on.
    """
    rng = random.Random(f"late-changes:{seed}")
    finals: list[Record] = []
    revisions: dict[str, tuple[Revision, ...]] = {}
    for record in records:
        planned = _plan_one(record, settings, rng)
        if planned is None:
            finals.append(record)
            continue
        final, history = planned
        finals.append(final)
        revisions[final["conversationId"]] = history
    return finals, revisions


def _plan_one(
    record: Record, settings: LateChanges, rng: random.Random
) -> tuple[Record, tuple[Revision, ...]] | None:
    # Two draws per record whatever happens, so one decision never shifts the next record's.
    reopen_roll, wrapup_roll = rng.random(), rng.random()
    agent = _answering_agent_session(record)
    if agent is None or "conversationEnd" not in record:
        return None
    start_key = ts_key(record["conversationStart"])
    if agent.get("mediaType") == "email" and reopen_roll < settings.email_reopen_share:
        final, reopened_at = _reopened(record, rng)
        return final, (Revision(start_key, record), Revision(reopened_at, final))
    if wrapup_roll < settings.wrapup_share:
        before, wrap_end = _without_wrapup(record)
        delay = rng.uniform(5.0, max(5.0, settings.wrapup_delay_max_seconds))
        if rng.random() < settings.wrapup_hours_share:
            delay = rng.uniform(3600.0, 6 * 3600.0)
        arrives = ms_to_ts(wrap_end + int(delay * 1000))
        return record, (Revision(start_key, before), Revision(arrives, record))
    return None


def _answering_agent_session(record: Record) -> Record | None:
    """The last agent session with a wrap-up segment: the agent who handled the conversation."""
    found = None
    for participant in record.get("participants", ()):
        if participant.get("purpose") != "agent":
            continue
        for session in participant.get("sessions", ()):
            if any(seg.get("segmentType") == "wrapup" for seg in session.get("segments", ())):
                found = session
    return found


def _without_wrapup(record: Record) -> tuple[Record, int]:
    """Return the record before its wrap-ups arrived, and when the last after-call work ended."""
    before = copy.deepcopy(record)
    wrap_end = 0
    for participant in before.get("participants", ()):
        for session in participant.get("sessions", ()):
            wraps = [s for s in session.get("segments", ()) if s.get("segmentType") == "wrapup"]
            if not wraps:
                continue
            wrap_end = max([wrap_end] + [to_ms(parse_ts(s["segmentEnd"])) for s in wraps])
            session["segments"] = [s for s in session["segments"] if s not in wraps]
            session["metrics"] = [
                m for m in session.get("metrics", ()) if m.get("name") not in _WRAPUP_METRICS
            ]
    return before, wrap_end


def _reopened(record: Record, rng: random.Random) -> tuple[Record, str]:
    """Return the record after a re-opening, and the instant (key) the re-opening starts.

    The customer writes again 15 minutes to 8 hours after the end; the same agent answers and
    wraps up again with the same code. ``conversationEnd`` moves to the end of the new exchange.
    """
    final = copy.deepcopy(record)
    ended = to_ms(parse_ts(record["conversationEnd"]))
    reopened = ended + int(rng.uniform(15 * 60, 8 * 3600) * 1000)
    replied = reopened + int(rng.uniform(120, 900) * 1000)
    acw_end = replied + int(rng.uniform(5, 60) * 1000)
    agent = _answering_agent_session(final)
    assert agent is not None  # checked by the caller
    wrap = next(s for s in agent["segments"] if s.get("segmentType") == "wrapup")
    queue_id, code = wrap.get("queueId"), wrap.get("wrapUpCode")
    agent["segments"] += [
        segment(reopened, replied, "interact", queueId=queue_id, disconnectType="client"),
        segment(replied, acw_end, "wrapup", queueId=queue_id, wrapUpCode=code),
    ]
    agent["metrics"] = [
        *agent.get("metrics", []),
        metric("tTalk", replied - reopened, replied),
        metric("tTalkComplete", replied - reopened, replied),
        metric("tAcw", acw_end - replied, acw_end),
        metric("tHandle", acw_end - reopened, acw_end),
    ]
    customer = next((p for p in final["participants"] if p.get("purpose") == "customer"), None)
    if customer is not None and customer.get("sessions"):
        customer["sessions"][0]["segments"].append(
            segment(reopened, replied, "interact", disconnectType="peer")
        )
    final["conversationEnd"] = ms_to_ts(replied)
    return final, ms_to_ts(reopened)
