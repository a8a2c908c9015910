"""Unit tests for the simulator's realism behaviours (issue #3), on the virtual clock only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator.access import DivisionGrant
from simulator.clock import VirtualClock
from simulator.errors import ApiError
from simulator.faults import FaultBook, parse_rules
from simulator.generator import build_contact_center
from simulator.indexing import IndexLag
from simulator.late import LateChanges, plan_late_changes
from simulator.orgchanges import OrgChange, entities_at, plan_org_changes
from simulator.profiles import DAILY_CURVE
from simulator.query import QueryLimits, run_details_query
from simulator.records import metric, ms_to_ts, segment, to_ms
from simulator.server import SimulatorConfig
from simulator.store import ConversationStore
from simulator.usage import ClientUsage

Record = dict[str, Any]

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
DAY = "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z"


def _ms(moment: datetime) -> int:
    return to_ms(moment)


def _key(moment: datetime) -> str:
    return ms_to_ts(_ms(moment))


def _handled(cid: str, start: datetime, talk_s: int, acw_s: int, media: str = "voice") -> Record:
    """A conversation a customer has with one agent, who then wraps up for ``acw_s``."""
    t0, talk_end = _ms(start), _ms(start) + talk_s * 1000
    wrap_end = talk_end + acw_s * 1000
    agent_segments = [
        segment(t0, talk_end, "interact", queueId="q1", disconnectType="peer"),
        segment(talk_end, wrap_end, "wrapup", queueId="q1", wrapUpCode="code-1"),
    ]
    agent_metrics = [
        metric("tTalkComplete", talk_end - t0, talk_end),
        metric("tAcw", wrap_end - talk_end, wrap_end),
        metric("tHandle", wrap_end - t0, wrap_end),
    ]
    return {
        "conversationId": cid,
        "conversationStart": ms_to_ts(t0),
        "conversationEnd": ms_to_ts(talk_end),
        "originatingDirection": "inbound",
        "divisionIds": ["div-home"],
        "participants": [
            {
                "participantId": f"{cid}-c",
                "purpose": "customer",
                "sessions": [
                    {
                        "mediaType": media,
                        "sessionId": f"{cid}-cs",
                        "segments": [segment(t0, talk_end, "interact", disconnectType="endpoint")],
                        "metrics": [metric("nConnected", 1, t0)],
                    }
                ],
            },
            {
                "participantId": f"{cid}-a",
                "purpose": "agent",
                "userId": "user-1",
                "sessions": [
                    {
                        "mediaType": media,
                        "sessionId": f"{cid}-as",
                        "segments": agent_segments,
                        "metrics": agent_metrics,
                    }
                ],
            },
        ],
    }


def _query(store: ConversationStore, now: datetime, **body: Any) -> dict[str, Any]:
    return run_details_query({"interval": DAY, **body}, store, _key(now), QueryLimits())


def _ids(result: dict[str, Any]) -> list[str]:
    return [c["conversationId"] for c in result.get("conversations", [])]


def _segment_types(view: Record) -> list[str]:
    return [
        seg["segmentType"]
        for participant in view["participants"]
        for session in participant["sessions"]
        for seg in session["segments"]
    ]


def _metric_names(view: Record) -> list[str]:
    return [
        m["name"]
        for participant in view["participants"]
        for session in participant["sessions"]
        for m in session["metrics"]
    ]


# -- 1. indexing lag ---------------------------------------------------------------------------


def test_store_lag_30s_new_conversation_absent_at_10s_present_at_31s() -> None:
    store = ConversationStore([_handled("c1", T0, 300, 20)], lag=IndexLag(30.0))

    assert _ids(_query(store, T0 + timedelta(seconds=10))) == []
    assert _ids(_query(store, T0 + timedelta(seconds=31))) == ["c1"]


def test_store_lag_30s_ended_conversation_shows_end_only_after_31s() -> None:
    store = ConversationStore([_handled("c1", T0, 300, 20)], lag=IndexLag(30.0))
    ended = T0 + timedelta(seconds=300)
    ended_only = [{"predicates": [{"dimension": "conversationEnd", "operator": "exists"}]}]

    early = _query(store, ended + timedelta(seconds=10), conversationFilters=ended_only)
    late = _query(store, ended + timedelta(seconds=31), conversationFilters=ended_only)

    assert _ids(early) == []
    assert late["conversations"][0]["conversationEnd"] == "2024-05-01T10:05:00.000Z"


def test_store_lag_30s_by_id_view_lags_like_the_details_query() -> None:
    store = ConversationStore([_handled("c1", T0, 300, 20)], lag=IndexLag(30.0))
    ended = T0 + timedelta(seconds=300)

    early = store.view("c1", _key(ended + timedelta(seconds=10)))
    late = store.view("c1", _key(ended + timedelta(seconds=31)))

    assert early is not None and "conversationEnd" not in early
    assert late is not None and late["conversationEnd"] == "2024-05-01T10:05:00.000Z"


def test_index_lag_jitter_is_fixed_per_conversation() -> None:
    lag = IndexLag(base_seconds=30.0, jitter_seconds=60.0)

    assert [lag.seconds_for(f"conv-{i}") for i in range(3)] == [80.284, 42.732, 37.25]
    assert lag.seconds_for("conv-0") == 80.284


# -- 2. late changes ---------------------------------------------------------------------------


def test_late_wrapup_arrives_after_acw_with_its_metrics() -> None:
    record = _handled("c1", T0, 300, 20)
    settings = LateChanges(wrapup_share=1.0, wrapup_delay_max_seconds=600.0)
    finals, revisions = plan_late_changes([record], settings, seed=7)
    store = ConversationStore(finals, revisions=revisions)
    arrives = revisions["c1"][1].visible_from
    wrap_end = T0 + timedelta(seconds=320)

    before = store.view("c1", _key(wrap_end + timedelta(seconds=1)))
    after = store.view("c1", arrives)

    assert arrives == "2024-05-01T10:09:57.443Z"
    assert before is not None and after is not None
    assert before["conversationEnd"] == "2024-05-01T10:05:00.000Z"
    assert _segment_types(before) == ["interact", "interact"]
    assert _metric_names(before) == ["nConnected", "tTalkComplete"]
    assert _segment_types(after) == ["interact", "interact", "wrapup"]
    assert _metric_names(after) == ["nConnected", "tTalkComplete", "tAcw", "tHandle"]
    assert finals == [record]


def test_late_wrapup_hours_share_one_delays_by_hours() -> None:
    settings = LateChanges(wrapup_share=1.0, wrapup_hours_share=1.0)
    _, revisions = plan_late_changes([_handled("c1", T0, 300, 20)], settings, seed=7)

    assert revisions["c1"][1].visible_from == "2024-05-01T12:17:39.992Z"


def test_email_reopen_removes_conversation_end_then_sets_a_later_one() -> None:
    record = _handled("e1", T0, 300, 20, media="email")
    finals, revisions = plan_late_changes([record], LateChanges(email_reopen_share=1.0), seed=7)
    store = ConversationStore(finals, revisions=revisions)
    reopened = revisions["e1"][1].visible_from
    final_end = finals[0]["conversationEnd"]

    closed = store.view("e1", "2024-05-01T10:06:00.000Z")
    reopened_view = store.view("e1", reopened)
    closed_again = store.view("e1", final_end)

    assert (reopened, final_end) == ("2024-05-01T13:52:55.099Z", "2024-05-01T14:07:53.535Z")
    assert closed is not None and closed["conversationEnd"] == "2024-05-01T10:05:00.000Z"
    assert reopened_view is not None and "conversationEnd" not in reopened_view
    assert closed_again is not None and closed_again["conversationEnd"] == final_end
    assert _segment_types(closed_again) == [
        "interact", "interact", "interact", "wrapup", "interact", "wrapup",
    ]  # fmt: skip


def test_truth_is_the_final_record_after_every_late_change() -> None:
    record = _handled("e1", T0, 300, 20, media="email")
    finals, revisions = plan_late_changes([record], LateChanges(email_reopen_share=1.0), seed=7)
    store = ConversationStore(finals, revisions=revisions)

    assert [r["conversationEnd"] for r in store.final()] == ["2024-05-01T14:07:53.535Z"]


def test_late_changes_off_leave_records_without_revisions() -> None:
    finals, revisions = plan_late_changes([_handled("c1", T0, 300, 20)], LateChanges(), seed=7)

    assert (len(finals), revisions) == (1, {})


# -- 3. midnight -------------------------------------------------------------------------------


def test_conversation_across_midnight_found_only_through_its_start_day() -> None:
    record = _handled("m1", datetime(2024, 5, 1, 23, 58, tzinfo=UTC), 300, 20)
    store = ConversationStore([record])
    now = "2024-05-02T00:10:00.000Z"

    def ids(interval: str) -> list[str]:
        return _ids(run_details_query({"interval": interval}, store, now, QueryLimits()))

    assert ids("2024-05-02T00:00:00Z/2024-05-02T00:05:00Z") == []
    assert ids("2024-05-01T23:59:00Z/2024-05-02T00:05:00Z") == ["m1"]


def test_generator_daily_curve_around_midnight_has_crossing_conversations() -> None:
    center = build_contact_center(
        7,
        agents=20,
        start=datetime(2024, 5, 1, 23, 0, tzinfo=UTC),
        end=datetime(2024, 5, 2, 1, 0, tzinfo=UTC),
        conversations_per_hour=600,
        hourly_profile=DAILY_CURVE,
    )
    crossing = [
        r for r in center.conversations if r["conversationStart"][:10] != r["conversationEnd"][:10]
    ]

    assert (len(center.conversations), len(crossing)) == (185, 10)


def test_generator_daily_curve_busy_hour_has_nine_times_the_night() -> None:
    center = build_contact_center(
        7,
        agents=20,
        start=datetime(2024, 5, 1, 3, 0, tzinfo=UTC),
        end=datetime(2024, 5, 1, 11, 0, tzinfo=UTC),
        conversations_per_hour=600,
        hourly_profile=DAILY_CURVE,
    )
    per_hour = {
        hour: sum(1 for r in center.conversations if r["conversationStart"][11:13] == hour)
        for hour in ("03", "10")
    }

    assert per_hour == {"03": 104, "10": 972}


# -- 4. approximate totalHits and records moving between pages -----------------------------------


def _burst(count: int) -> list[Record]:
    return [_handled(f"b{i:02d}", T0 + timedelta(seconds=2 * i), 600, 20) for i in range(count)]


def test_total_hits_jitter_on_live_interval_differs_per_page() -> None:
    store = ConversationStore(_burst(50))
    limits = QueryLimits(total_hits_jitter=0.1)
    now = "2024-05-01T10:05:00.000Z"

    totals = [
        run_details_query(
            {"interval": DAY, "paging": {"pageSize": 25, "pageNumber": page}}, store, now, limits
        )["totalHits"]
        for page in (1, 2, 3)
    ]

    assert totals == [52, 47, 45]


def test_total_hits_jitter_on_settled_interval_is_exact() -> None:
    store = ConversationStore(_burst(50))
    body = {"interval": "2024-05-01T09:00:00Z/2024-05-01T11:00:00Z"}

    result = run_details_query(body, store, "2024-05-01T12:00:00.000Z", QueryLimits(0.1))

    assert result["totalHits"] == 50


def test_lag_jitter_inserts_late_indexed_records_ahead_of_later_pages() -> None:
    store = ConversationStore(_burst(30), lag=IndexLag(jitter_seconds=60.0))
    page = {"pageSize": 10}

    first = _ids(_query(store, T0 + timedelta(seconds=60), paging={**page, "pageNumber": 1}))
    second = _ids(_query(store, T0 + timedelta(seconds=90), paging={**page, "pageNumber": 2}))

    # b03 and b04 were indexed late and went onto page 1 after it was read: missed; b10 and
    # b11 were pushed from page 1 to page 2: seen twice.
    assert first == ["b00", "b01", "b02", "b05", "b06", "b07", "b08", "b09", "b10", "b11"]
    assert second[:2] == ["b10", "b11"]
    assert {"b03", "b04"} - set(first) - set(second) == {"b03", "b04"}


# -- 5. paging cap -----------------------------------------------------------------------------


def test_paging_cap_400_page_5_of_100_answers_400_with_error_body() -> None:
    store = ConversationStore(_burst(1))
    body = {"interval": DAY, "paging": {"pageSize": 100, "pageNumber": 5}}

    with pytest.raises(ApiError) as raised:
        run_details_query(body, store, "2024-05-01T12:00:00.000Z", QueryLimits(max_results=400))

    assert raised.value.body("ctx-1") == {
        "message": "Paging is limited to 400 results; pageNumber 5 with pageSize 100 reaches "
        "result 500. Narrow the interval or add filters.",
        "code": "bad.request",
        "status": 400,
        "messageWithParams": "Paging is limited to {maxResults} results; pageNumber "
        "{pageNumber} with pageSize {pageSize} reaches result {lastResult}. Narrow the "
        "interval or add filters.",
        "messageParams": {
            "maxResults": "400",
            "pageNumber": "5",
            "pageSize": "100",
            "lastResult": "500",
        },
        "contextId": "ctx-1",
        "details": [],
        "errors": [],
    }


def test_paging_cap_400_page_4_of_100_is_allowed() -> None:
    store = ConversationStore(_burst(1))
    body = {"interval": DAY, "paging": {"pageSize": 100, "pageNumber": 4}}

    result = run_details_query(
        body, store, "2024-05-01T12:00:00.000Z", QueryLimits(max_results=400)
    )

    assert result == {"totalHits": 1}


# -- 6, 7. scheduled and paged faults ------------------------------------------------------------


def test_fault_on_page_28_fires_once_for_that_page_only() -> None:
    book = FaultBook()
    book.add(parse_rules({"path_prefix": "/api/v2/analytics", "status": 401, "page": 28}))

    fired = [book.take("POST", "/api/v2/analytics/x", page) for page in (27, 28, 28, 29)]

    assert [rule.status if rule else 200 for rule in fired] == [200, 401, 200, 200]


def test_fault_window_on_virtual_clock_matches_only_inside() -> None:
    book = FaultBook()
    rule = {
        "path_prefix": "/api",
        "status": 503,
        "times": 10,
        "from": "2024-05-01T10:10:00Z",
        "until": "2024-05-01T10:12:00Z",
    }
    book.add(parse_rules(rule))

    statuses = [
        (book.take("GET", "/api/v2/users", 1, T0 + timedelta(minutes=m)) or rule_ok).status
        for m, rule_ok in ((9, _OK), (10, _OK), (11, _OK), (12, _OK))
    ]

    assert statuses == [200, 503, 503, 200]


class _Ok:
    status = 200


_OK = _Ok()


def test_fault_rule_delay_without_status_is_valid_and_bad_delay_is_named() -> None:
    (slow,) = parse_rules({"path_prefix": "/api", "delay_seconds": 2})

    with pytest.raises(ValueError, match="delay_seconds must be a number >= 0, got -1"):
        parse_rules({"path_prefix": "/api", "status": 503, "delay_seconds": -1})
    assert (slow.status, slow.delay_seconds, slow.drop) == (None, 2.0, False)


# -- 8. org changes and divisions --------------------------------------------------------------


def test_org_change_user_leaves_is_deleted_from_then_on() -> None:
    users = [{"id": "u1", "name": "Agent Alpha", "state": "active", "version": 3}]
    change = OrgChange(T0, "users", "u1", "leave")

    before = entities_at("users", users, [change], T0 - timedelta(seconds=1))
    after = entities_at("users", users, [change], T0)

    assert before == users
    assert after == [{"id": "u1", "name": "Agent Alpha", "state": "deleted", "version": 4}]


def test_org_change_rename_and_remove_over_time() -> None:
    queues = [
        {"id": "q1", "name": "Billing Queue", "dateModified": "2024-01-01T00:00:00.000Z"},
        {"id": "q2", "name": "Care Chat"},
    ]
    changes = [
        OrgChange(T0, "queues", "q1", "rename", "Billing Queue EMEA"),
        OrgChange(T0 + timedelta(hours=1), "queues", "q2", "remove"),
    ]

    later = entities_at("queues", queues, changes, T0 + timedelta(hours=2))

    assert later == [
        {"id": "q1", "name": "Billing Queue EMEA", "dateModified": "2024-05-01T10:00:00.000Z"}
    ]


def test_plan_org_changes_eight_cover_every_kind_in_time_order() -> None:
    center = build_contact_center(
        7, agents=20, start=T0, end=T0 + timedelta(hours=1), conversations_per_hour=0
    )
    listings = {n: getattr(center, n) for n in ("users", "queues", "skills", "wrapup_codes")}

    changes = plan_org_changes(listings, 8, 7, T0, T0 + timedelta(hours=2))

    kinds = sorted((c.listing, c.kind) for c in changes)
    assert kinds == [
        ("queues", "remove"), ("queues", "rename"), ("skills", "remove"), ("skills", "rename"),
        ("users", "leave"), ("users", "leave"), ("wrapup_codes", "remove"),
        ("wrapup_codes", "rename"),
    ]  # fmt: skip
    assert [c.at for c in changes] == sorted(c.at for c in changes)
    assert all(T0 <= c.at < T0 + timedelta(hours=2) for c in changes)


def test_division_grant_hides_other_divisions_but_not_shared_codes_or_skills() -> None:
    divisions = [{"id": "d-home", "name": "Home"}, {"id": "d-care", "name": "Customer Care"}]
    grant = DivisionGrant.by_names(["Home"], divisions)

    assert grant.sees_conversation({"divisionIds": ["d-care", "d-home"]}) is True
    assert grant.sees_conversation({"divisionIds": ["d-care"]}) is False
    assert grant.sees_entity("queues", {"division": {"id": "d-care"}}) is False
    assert grant.sees_entity("wrapup_codes", {"division": {"id": "*"}}) is True
    assert grant.sees_entity("skills", {"id": "s1"}) is True
    assert grant.sees_entity("divisions", {"id": "d-care"}) is False


def test_division_grant_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown division names \['Nowhere'\]; the org has"):
        DivisionGrant.by_names(["Nowhere"], [{"id": "d1", "name": "Home"}])


def test_store_final_and_views_follow_the_grant() -> None:
    home, care = _handled("h1", T0, 60, 5), _handled("c1", T0, 60, 5)
    care["divisionIds"] = ["div-care"]
    store = ConversationStore([home, care])
    grant = DivisionGrant(frozenset({"div-home"}))

    assert [r["conversationId"] for r in store.final(grant=grant)] == ["h1"]
    assert store.view("c1", "2024-05-01T11:00:00.000Z", grant) is None


# -- 6, 9. usage per client and the virtual clock ----------------------------------------------


def test_client_usage_peaks_per_wall_and_virtual_minute() -> None:
    wall = iter([0.0, 10.0, 59.0, 61.0, 62.0])
    usage = ClientUsage(wall_clock=lambda: next(wall))
    virtual = [T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=5, seconds=30)]
    virtual += [T0 + timedelta(minutes=6), T0 + timedelta(minutes=6)]

    for moment in virtual:
        usage.record("etl", 200, moment)

    assert usage.snapshot() == {
        "etl": {
            "requests": 5,
            "statuses": {"200": 5},
            "peakPerWallMinute": 3,
            "peakPerVirtualMinute": 2,
            "busiestVirtualMinute": "2024-05-01T10:05",
        }
    }


def test_virtual_clock_speed_60_crosses_midnight_in_about_a_real_minute() -> None:
    real = [0.0]
    clock = VirtualClock(datetime(2024, 5, 1, 23, 0, tzinfo=UTC), 60.0, timer=lambda: real[0])

    real[0] = 59.0
    before = clock.now()
    real[0] = 61.0
    after = clock.now()

    assert (before.isoformat(), after.isoformat()) == (
        "2024-05-01T23:59:00+00:00",
        "2024-05-02T00:01:00+00:00",
    )


# -- the realistic profile ---------------------------------------------------------------------


def test_default_config_keeps_every_realism_behaviour_off() -> None:
    config = SimulatorConfig("id", "secret")

    assert (config.latency_seconds, config.latency_jitter_seconds) == (0.0, 0.0)
    assert (config.late_wrapup_share, config.email_reopen_share) == (0.0, 0.0)
    assert (config.total_hits_jitter, config.query_max_results, config.org_changes) == (
        0.0,
        None,
        0,
    )
    assert (config.client_divisions, config.faults, config.hourly_profile) == (None, (), None)


def test_realistic_config_turns_each_behaviour_on_and_overrides_win() -> None:
    config = SimulatorConfig.realistic("id", "secret", start=T0, latency_seconds=5.0)

    assert config.profile == "realistic"
    assert (config.latency_seconds, config.latency_jitter_seconds) == (5.0, 60.0)
    assert (config.late_wrapup_share, config.email_reopen_share) == (0.3, 0.2)
    assert (config.total_hits_jitter, config.query_max_results, config.org_changes) == (
        0.1,
        10_000,
        8,
    )
    assert config.client_divisions == ("Home", "Sales")
    assert [rule.get("status") for rule in config.faults] == [401, 503, None, 504]
    assert config.faults[0]["from"] == "2024-05-01T10:05:00.000Z"


def test_cli_profile_realistic_keeps_profile_values_for_flags_left_out() -> None:
    from simulator.__main__ import _config, _parser

    args = _parser().parse_args(["--profile", "realistic", "--start", "2024-05-01T10:00:00Z"])
    config = _config(args, "id", "secret")
    plain = _config(_parser().parse_args(["--latency-seconds", "12"]), "id", "secret")

    assert (config.profile, config.latency_seconds, config.start) == ("realistic", 30.0, T0)
    assert (plain.profile, plain.latency_seconds, plain.late_wrapup_share) == ("default", 12.0, 0)
