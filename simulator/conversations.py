"""Builds final conversation detail records, in the Genesys analytics shape, from a seeded RNG."""

from __future__ import annotations

import random
from typing import Any

from simulator.org import Organisation, new_uuid
from simulator.participants import PROVIDERS, ParticipantParts
from simulator.records import metric, ms_to_ts, segment

Record = dict[str, Any]

_FIRST_NAMES = ("Alex", "Sam", "Robin", "Jordan", "Casey", "Taylor", "Morgan", "Jamie", "Riley")
_LAST_NAMES = ("Example", "Sample", "Testperson", "Fakename", "Placeholder", "Demo", "Mockley")
# Per media: mean queue wait (s) and the probability that the customer abandons in queue.
_QUEUE_WAIT = {"voice": 40.0, "chat": 60.0, "email": 900.0, "callback": 120.0}
_ABANDON = {"voice": 0.12, "chat": 0.08, "email": 0.0, "callback": 0.05}


class ConversationBuilder(ParticipantParts):
    """Builds conversations for one org; every call draws from the shared RNG in a fixed order."""

    def __init__(self, rng: random.Random, org: Organisation, agent_weights: list[float]) -> None:
        super().__init__(rng, org, agent_weights)
        self._inbound_queues = [q for q in org.queue_info if q.name != "Outbound Sales"]
        self._outbound_queue = next(q for q in org.queue_info if q.name == "Outbound Sales")

    def build(self, start_ms: int) -> Record:
        """Return a final record for a conversation that starts at epoch-ms ``start_ms``."""
        rng = self._rng
        kind = rng.choices(
            ("voice-in", "voice-out", "chat", "email", "callback"), weights=(55, 12, 15, 10, 8)
        )[0]
        conversation_id = new_uuid(rng)
        self._customer_name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        self._phone = f"tel:+1555{rng.randint(0, 9999999):07d}"
        self._org_number = f"tel:+1800555{rng.randint(100, 199):04d}"
        self._divisions = []
        self._participants = []
        if kind == "voice-out":
            end_ms = self._outbound(start_ms)
        else:
            end_ms = self._inbound(start_ms, kind.removesuffix("-in"))
        if rng.random() < 0.15:
            self._add_division(rng.choice(self._org.divisions)["id"])
        return {
            "conversationId": conversation_id,
            "conversationStart": ms_to_ts(start_ms),
            "conversationEnd": ms_to_ts(end_ms),
            "originatingDirection": "outbound" if kind == "voice-out" else "inbound",
            "divisionIds": list(self._divisions),
            "participants": self._participants,
        }

    # -- flows ---------------------------------------------------------------------------------

    def _inbound(self, t0: int, media: str) -> int:
        """Customer -> (IVR) -> queue -> agents, with abandons and a transfer to a second queue."""
        rng = self._rng
        cust_session = new_uuid(rng)
        customer = self._participant("customer", self._customer_name)
        cust_segments: list[Record] = []
        if media == "voice":
            queue_at = t0 + rng.randint(8000, 60000)
            cust_segments.append(segment(t0, queue_at, "interact"))
        else:
            queue_at = t0 + rng.randint(2, 1500)
        queue = rng.choice(self._inbound_queues)
        if media == "voice":
            self._ivr(t0, queue_at, cust_session, queue)
        legs = 2 if rng.random() < 0.08 else 1
        by_customer = rng.random() < 0.6
        selected: str | None = None
        end_ms = queue_at
        for leg in range(legs):
            self._add_division(queue.division_id)
            wait = int(rng.expovariate(1.0 / _QUEUE_WAIT[media]) * 1000) + 500
            if leg == 0 and rng.random() < _ABANDON[media]:
                end_ms = queue_at + wait
                self._participants.append(
                    self._acd(queue, (queue_at, end_ms), cust_session, media, None)
                )
                cust_segments.append(self._queue_seg(queue, queue_at, end_ms, "endpoint"))
                break
            last = leg == legs - 1
            closing = ("peer" if by_customer else "client") if last else "transfer"
            selected, answered_at, talk, agents = self._agents(
                queue, queue_at, wait, cust_session, media, closing
            )
            acd = self._acd(queue, (queue_at, answered_at), cust_session, media, selected)
            self._participants.append(acd)
            self._participants.extend(agents)
            cust_segments.append(self._queue_seg(queue, queue_at, answered_at, None))
            for index, (start, stop, kind) in enumerate(talk):
                closing_seg = last and index == len(talk) - 1
                disconnect = ("endpoint" if by_customer else "peer") if closing_seg else None
                cust_segments.append(segment(start, stop, kind, disconnectType=disconnect))
            end_ms = talk[-1][1]
            if not last:
                queue = rng.choice([q for q in self._inbound_queues if q is not queue])
                queue_at = end_ms
        session: Record = {"mediaType": media, "sessionId": cust_session, "direction": "inbound"}
        session.update(self._contact_fields(media, customer=True))
        session["segments"] = cust_segments
        session["metrics"] = [metric("nConnected", 1, t0)]
        session["provider"] = PROVIDERS[media]
        if selected is not None:
            session["selectedAgentId"] = selected
        customer["sessions"] = [session]
        self._participants.insert(0, customer)
        return end_ms

    def _outbound(self, t0: int) -> int:
        """An agent dials out on behalf of the outbound queue; the called party is ``external``."""
        rng = self._rng
        queue = self._outbound_queue
        self._add_division(queue.division_id)
        user = self._pick_agent(())
        agent_session, ext_session = new_uuid(rng), new_uuid(rng)
        connected = t0 + rng.randint(4000, 25000)
        talk = self._talk_segments(connected, "voice")
        end_ms = talk[-1][1]
        by_customer = rng.random() < 0.5
        segs = [segment(t0, connected, "dialing", queueId=queue.queue_id)]
        for index, (start, stop, kind) in enumerate(talk):
            closing = index == len(talk) - 1
            disconnect = ("peer" if by_customer else "client") if closing else None
            segs.append(
                segment(start, stop, kind, queueId=queue.queue_id, disconnectType=disconnect)
            )
        metrics = [metric("nOutbound", 1, t0), metric("tDialing", connected - t0, connected)]
        wrap_segs, wrap_metrics = self._wrapup(queue, talk, transferred=False)
        agent = self._participant("agent", user["name"], user_id=user["id"])
        agent["sessions"] = [
            {
                "mediaType": "voice",
                "sessionId": agent_session,
                "direction": "outbound",
                "ani": self._org_number,
                "dnis": self._phone,
                "segments": segs + wrap_segs,
                "metrics": metrics + wrap_metrics,
                "provider": PROVIDERS["voice"],
                "remote": self._customer_name,
            }
        ]
        external = self._participant("external", self._customer_name)
        ext_disconnect = "endpoint" if by_customer else "peer"
        external["sessions"] = [
            {
                "mediaType": "voice",
                "sessionId": ext_session,
                "direction": "outbound",
                "ani": self._org_number,
                "dnis": self._phone,
                "peerId": agent_session,
                "segments": [segment(connected, end_ms, "interact", disconnectType=ext_disconnect)],
                "metrics": [metric("nConnected", 1, connected)],
                "provider": PROVIDERS["voice"],
            }
        ]
        self._participants.extend([agent, external])
        return end_ms
