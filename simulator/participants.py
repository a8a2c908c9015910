"""Participant and session builders for the flows in `simulator.conversations`."""

from __future__ import annotations

import random
from typing import Any

from simulator.org import Entity, Organisation, QueueInfo, new_uuid
from simulator.records import metric, segment

Record = dict[str, Any]
Talk = list[tuple[int, int, str]]

SYSTEM_WRAPUP_TIMEOUT = "ININ-WRAP-UP-TIMEOUT"

_NOTES = ("Customer asked for invoice copy", "Will call back tomorrow", "Escalated to tier 2")
PROVIDERS = {
    "voice": "Edge",
    "chat": "PureCloud Webchat v2",
    "email": "PureCloud Email",
    "callback": "PureCloud Callback",
}
# Per media: mean talk time (s) and how long an agent may leave an offer alerting (ms).
_TALK_MEAN = {"voice": 240.0, "chat": 420.0, "email": 300.0, "callback": 200.0}
_ALERT_TIMEOUT_MS = {"voice": 8000, "chat": 30000, "email": 30000, "callback": 15000}


class ParticipantParts:
    """State of the conversation being built, and builders for its participants."""

    def __init__(self, rng: random.Random, org: Organisation, agent_weights: list[float]) -> None:
        self._rng = rng
        self._org = org
        self._weights = agent_weights
        self._org_flow_id = new_uuid(rng)
        self._customer_name = ""
        self._phone = ""
        self._org_number = ""
        self._divisions: list[str] = []
        self._participants: list[Record] = []

    # -- participants --------------------------------------------------------------------------

    def _ivr(self, t0: int, queue_at: int, cust_session: str, queue: QueueInfo) -> None:
        ivr = self._participant("ivr", "Main Menu IVR")
        entered = t0 + 150
        ivr["sessions"] = [
            {
                "mediaType": "voice",
                "sessionId": new_uuid(self._rng),
                "direction": "inbound",
                **self._contact_fields("voice", customer=False),
                "peerId": cust_session,
                "flow": {
                    "flowId": self._org_flow_id,
                    "flowName": "Main Menu IVR",
                    "flowType": "INBOUNDCALL",
                    "flowVersion": "12.0",
                    "entryType": "dnis",
                    "exitReason": "TRANSFER",
                    "transferType": "ACD",
                    "transferTargetName": queue.name,
                    "transferTargetAddress": queue.name,
                },
                "segments": [segment(entered, queue_at, "ivr", disconnectType="transfer")],
                "metrics": [
                    metric("nFlow", 1, entered),
                    metric("tIvr", queue_at - entered, queue_at),
                    metric("tFlow", queue_at - entered, queue_at),
                ],
                "provider": PROVIDERS["voice"],
            }
        ]
        self._participants.append(ivr)

    def _acd(
        self,
        queue: QueueInfo,
        span: tuple[int, int],
        cust_session: str,
        media: str,
        agent_id: str | None,
    ) -> Record:
        entered, left = span
        abandoned = agent_id is None
        acd = self._participant("acd", queue.name)
        metrics = [metric("nOffered", 1, entered), metric("tAcd", left - entered, left)]
        if abandoned:
            metrics.append(metric("tAbandon", left - entered, left))
        session: Record = {
            "mediaType": media,
            "sessionId": new_uuid(self._rng),
            "direction": "inbound",
            **self._contact_fields(media, customer=False),
            "peerId": cust_session,
            "segments": [
                self._queue_seg(queue, entered, left, "peer" if abandoned else "transfer")
            ],
            "metrics": metrics,
            "provider": PROVIDERS[media],
            "remote": self._customer_name,
            "requestedRoutings": ["Standard"],
        }
        if agent_id is not None:
            session["usedRouting"] = "Standard"
            session["selectedAgentId"] = agent_id
        acd["sessions"] = [session]
        return acd

    def _agents(
        self,
        queue: QueueInfo,
        queue_at: int,
        wait: int,
        cust_session: str,
        media: str,
        closing: str,
    ) -> tuple[str, int, Talk, list[Record]]:
        """Route to agents: maybe one who does not answer, then one who answers and talks."""
        rng = self._rng
        participants: list[Record] = []
        alert_at = queue_at + wait
        skipped: tuple[str, ...] = ()
        if rng.random() < 0.08:
            absent = self._pick_agent(())
            timeout = _ALERT_TIMEOUT_MS[media]
            seg = self._queue_seg(queue, alert_at, alert_at + timeout, "noAnswerTransfer", "alert")
            participants.append(
                self._agent_participant(
                    absent,
                    media,
                    cust_session,
                    [seg],
                    [metric("tNotResponding", timeout, alert_at + timeout)],
                    None,
                )
            )
            skipped = (absent["id"],)
            alert_at += timeout + rng.randint(300, 3000)
        user = self._pick_agent(skipped)
        answered_at = alert_at + rng.randint(1500, 12000)
        talk = self._talk_segments(answered_at, media)
        segs = [self._queue_seg(queue, alert_at, answered_at, None, "alert")]
        for index, (start, stop, kind) in enumerate(talk):
            disconnect = closing if index == len(talk) - 1 else None
            segs.append(
                segment(start, stop, kind, queueId=queue.queue_id, disconnectType=disconnect)
            )
        metrics = [
            metric("tAlert", answered_at - alert_at, answered_at),
            metric("tAnswered", answered_at - queue_at, answered_at),
        ]
        wrap_segs, wrap_metrics = self._wrapup(queue, talk, closing == "transfer")
        participants.append(
            self._agent_participant(
                user, media, cust_session, segs + wrap_segs, metrics + wrap_metrics, user["id"]
            )
        )
        for participant in participants:
            participant["sessions"][0]["selectedAgentId"] = user["id"]
        return user["id"], answered_at, talk, participants

    def _agent_participant(
        self,
        user: Entity,
        media: str,
        cust_session: str,
        segments: list[Record],
        metrics: list[Record],
        selected: str | None,
    ) -> Record:
        agent = self._participant("agent", user["name"], user_id=user["id"])
        session: Record = {
            "mediaType": media,
            "sessionId": new_uuid(self._rng),
            "direction": "outbound" if media == "callback" else "inbound",
            **self._contact_fields(media, customer=False),
            "peerId": cust_session,
            "segments": segments,
            "metrics": metrics,
            "provider": PROVIDERS[media],
            "remote": self._customer_name,
            "requestedRoutings": ["Standard"],
        }
        if selected is not None:
            session["usedRouting"] = "Standard"
        agent["sessions"] = [session]
        return agent

    def _talk_segments(self, start: int, media: str) -> Talk:
        rng = self._rng
        total = int(rng.expovariate(1.0 / _TALK_MEAN[media]) * 1000) + 15000
        holds = 0
        if media in ("voice", "chat"):
            holds = rng.choices((0, 1, 2), weights=(70, 22, 8))[0]
        pieces = [total // (holds + 1)] * (holds + 1)
        talk: Talk = []
        cursor = start
        for index, piece in enumerate(pieces):
            talk.append((cursor, cursor + piece, "interact"))
            cursor += piece
            if index < holds:
                held = rng.randint(15000, 90000)
                talk.append((cursor, cursor + held, "hold"))
                cursor += held
        return talk

    def _wrapup(
        self, queue: QueueInfo, talk: Talk, transferred: bool
    ) -> tuple[list[Record], list[Record]]:
        """Return the wrap-up segment and the handle metrics emitted as talk, hold and ACW end."""
        rng = self._rng
        talk_end = talk[-1][1]
        metrics: list[Record] = []
        talked = held = 0
        for start, stop, kind in talk:
            metrics.append(metric("tTalk" if kind == "interact" else "tHeld", stop - start, stop))
            if kind == "interact":
                talked += stop - start
            else:
                held += stop - start
        metrics.append(metric("tTalkComplete", talked, talk_end))
        if held:
            metrics.append(metric("tHeldComplete", held, talk_end))
        if transferred:
            metrics.append(metric("nTransferred", 1, talk_end))
        if rng.random() < 0.1:
            acw, code = queue.acw_timeout_ms, SYSTEM_WRAPUP_TIMEOUT
        else:
            acw = rng.randint(3000, max(3001, queue.acw_timeout_ms - 500))
            code = rng.choice(self._org.wrapup_codes)["id"]
        note = rng.choice(_NOTES) if rng.random() < 0.25 else None
        wrap_end = talk_end + acw
        wrap = segment(
            talk_end, wrap_end, "wrapup", queueId=queue.queue_id, wrapUpCode=code, wrapUpNote=note
        )
        metrics.append(metric("tAcw", acw, wrap_end))
        metrics.append(metric("tHandle", talked + held + acw, wrap_end))
        return [wrap], metrics

    # -- small helpers -------------------------------------------------------------------------

    def _participant(self, purpose: str, name: str | None, user_id: str | None = None) -> Record:
        participant: Record = {"participantId": new_uuid(self._rng)}
        # Real agent participants often carry no participantName; mimic that half of the time.
        if name is not None and (purpose != "agent" or self._rng.random() < 0.5):
            participant["participantName"] = name
        if user_id is not None:
            participant["userId"] = user_id
        participant["purpose"] = purpose
        return participant

    def _contact_fields(self, media: str, *, customer: bool) -> Record:
        if media == "voice":
            return {"ani": self._phone, "dnis": self._org_number}
        if not customer:
            return {}
        if media == "email":
            address = self._customer_name.lower().replace(" ", ".") + "@example.net"
            return {"addressFrom": address, "addressTo": "support@example.com"}
        if media == "callback":
            return {"callbackNumbers": [self._phone], "callbackUserName": self._customer_name}
        return {}

    def _queue_seg(
        self, queue: QueueInfo, start: int, end: int, disconnect: str | None, kind: str = "interact"
    ) -> Record:
        return segment(
            start,
            end,
            kind,
            queueId=queue.queue_id,
            requestedRoutingSkillIds=list(queue.skill_ids),
            disconnectType=disconnect,
        )

    def _pick_agent(self, exclude: tuple[str, ...]) -> Entity:
        users = self._org.users
        for _ in range(20):
            user = self._rng.choices(users, weights=self._weights)[0]
            if user["id"] not in exclude:
                return user
        return user

    def _add_division(self, division_id: str) -> None:
        if division_id not in self._divisions:
            self._divisions.append(division_id)
