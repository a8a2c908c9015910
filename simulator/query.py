"""``POST /api/v2/analytics/conversations/details/query``: validation, filters, order and paging."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.access import DivisionGrant
from simulator.errors import bad_request, paging_cap_exceeded
from simulator.store import ConversationStore
from simulator.timefmt import format_ts, parse_interval, ts_key

Record = dict[str, Any]
Predicate = Callable[[Record, Record, Record], bool]

ORDER_BY = ("conversationStart", "conversationEnd", "segmentStart", "segmentEnd")
CONVERSATION_DIMENSIONS = (
    "conversationId",
    "divisionId",
    "originatingDirection",
    "conversationEnd",
)
SEGMENT_DIMENSIONS = ("mediaType", "queueId")
UNSUPPORTED_LISTS = ("evaluationFilters", "surveyFilters", "resolutionFilters", "aggregations")
_LATEST = "\uffff"  # sorts after every timestamp: open conversations/segments end "last"


@dataclass(frozen=True)
class QueryLimits:
    """Limits of the details query.

    Attributes:
        max_page_size: Largest pageSize accepted.
        max_days: Longest interval without filters, in days.
        max_days_filtered: Longest interval when a filter is supplied, in days.
        max_results: Optional cap on pageNumber * pageSize (400 above it).
        total_hits_jitter: While an interval still receives traffic, ``totalHits`` is off by
            up to this share of the true count (0.1: +-10%), differently for every page.
    """

    max_page_size: int = 100
    max_days: float = 7.0
    max_days_filtered: float = 31.0
    max_results: int | None = None
    total_hits_jitter: float = 0.0


def run_details_query(
    body: Any,
    store: ConversationStore,
    now_key: str,
    limits: QueryLimits,
    grant: DivisionGrant | None = None,
) -> dict[str, Any]:
    """Answer a ``ConversationQuery`` with the views at ``now_key`` that ``grant`` may see.

    Raises:
        ApiError: 400 for an invalid or unsupported query, with a message naming the problem.
    """
    if not isinstance(body, dict):
        raise bad_request(f"the body must be a ConversationQuery JSON object, got {body!r:.80}")
    for name in UNSUPPORTED_LISTS:
        if body.get(name):
            raise bad_request(f"the simulator does not support {name} in the details query")
    try:
        start, end = parse_interval(body.get("interval"))
    except ValueError as exc:
        raise bad_request(f"{exc}", "invalid.date") from None
    filters = [_compile(f, "conversation") for f in _filter_list(body, "conversationFilters")]
    seg_filters = [_compile(f, "segment") for f in _filter_list(body, "segmentFilters")]
    max_days = limits.max_days_filtered if filters or seg_filters else limits.max_days
    span_days = (end - start).total_seconds() / 86400
    if span_days > max_days:
        raise bad_request(
            f"interval {body['interval']!r} spans {span_days:.2f} days; the maximum is "
            f"{max_days:g} days ({limits.max_days:g} without filters, "
            f"{limits.max_days_filtered:g} with filters)"
        )
    order = body.get("order", "asc")
    if order not in ("asc", "desc", "unordered"):
        raise bad_request(f"order must be asc, desc or unordered, got {order!r}", "invalid.value")
    order_by = body.get("orderBy", "conversationStart")
    if order_by not in ORDER_BY:
        raise bad_request(f"orderBy must be one of {', '.join(ORDER_BY)}, got {order_by!r}")
    page_size, page_number = _paging(body.get("paging"), limits)
    matched = [
        view
        for view in store.interval_views(start, end, now_key, grant or DivisionGrant())
        if all(f(view, {}, {}) for f in filters) and all(_any_segment(view, f) for f in seg_filters)
    ]
    matched.sort(
        key=lambda v: (_sort_key(v, order_by), v["conversationId"]), reverse=order == "desc"
    )
    page = matched[(page_number - 1) * page_size : page_number * page_size]
    total = len(matched)
    receiving = format_ts(end) > now_key or any("conversationEnd" not in v for v in matched)
    if limits.total_hits_jitter > 0 and receiving:
        total = _approximate(
            total, limits.total_hits_jitter, f"{now_key}|{body['interval']}|{page_number}"
        )
    # A page past the end carries no "conversations" key at all: clients stop on its absence.
    return {"conversations": page, "totalHits": total} if page else {"totalHits": total}


def _approximate(count: int, jitter: float, request: str) -> int:
    """Return ``count`` off by up to ``jitter`` of itself, the same for the same request.

    The API documents ``totalHits`` as approximate and changing between page requests on an
    interval that still receives traffic; seeding by request keeps tests reproducible.
    """
    share = random.Random(request).uniform(-jitter, jitter)
    return max(0, round(count * (1 + share)))


def _paging(paging: Any, limits: QueryLimits) -> tuple[int, int]:
    if paging is None:
        return 25, 1
    if not isinstance(paging, dict):
        raise bad_request(f"paging must be an object {{pageSize, pageNumber}}, got {paging!r}")
    size, number = paging.get("pageSize", 25), paging.get("pageNumber", 1)
    for name, value in (("pageSize", size), ("pageNumber", number)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad_request(f"paging.{name} must be an integer >= 1, got {value!r}")
    if size > limits.max_page_size:
        raise bad_request(
            f"paging.pageSize {size} is too large; the maximum is {limits.max_page_size}",
            "invalid.value",
        )
    if limits.max_results is not None and size * number > limits.max_results:
        raise paging_cap_exceeded(size, number, limits.max_results)
    return size, number


def _filter_list(body: Record, name: str) -> list[Record]:
    value = body.get(name) or []
    if not isinstance(value, list):
        raise bad_request(f"{name} must be a list of filters, got {value!r:.80}")
    return value


def _compile(spec: Any, kind: str, depth: int = 0) -> Predicate:
    """Turn a filter or clause ``{type: and|or, predicates, clauses}`` into a predicate."""
    if not isinstance(spec, dict):
        raise bad_request(f"each {kind} filter must be an object, got {spec!r:.80}")
    combine = spec.get("type", "and")
    if combine not in ("and", "or"):
        raise bad_request(f"{kind} filter type must be 'and' or 'or', got {combine!r}")
    parts = [_predicate(p, kind) for p in spec.get("predicates") or []]
    if depth == 0:
        parts += [_compile(c, kind, depth + 1) for c in spec.get("clauses") or []]
    elif spec.get("clauses"):
        raise bad_request(f"{kind} filter clauses cannot contain further clauses")
    if not parts:
        raise bad_request(f"{kind} filter has no predicates or clauses: {spec!r:.120}")
    join = all if combine == "and" else any
    return lambda conv, sess, seg: join(part(conv, sess, seg) for part in parts)


def _predicate(spec: Any, kind: str) -> Predicate:
    if not isinstance(spec, dict):
        raise bad_request(f"each {kind} predicate must be an object, got {spec!r:.80}")
    supported = CONVERSATION_DIMENSIONS if kind == "conversation" else SEGMENT_DIMENSIONS
    dimension = spec.get("dimension")
    if spec.get("type", "dimension") != "dimension" or dimension not in supported:
        raise bad_request(
            f"the simulator does not support the {kind} predicate {spec!r:.120}; supported: "
            f"type 'dimension' on {', '.join(supported)}"
        )
    operator = spec.get("operator", "matches")
    if "range" in spec:
        raise bad_request(f"the simulator does not support 'range' in predicates: {spec!r:.120}")
    if dimension == "conversationEnd":
        if operator not in ("exists", "notExists"):
            raise bad_request(
                f"the simulator supports only exists/notExists on conversationEnd, got {operator!r}"
            )
        wanted = operator == "exists"
        return lambda conv, sess, seg: ("conversationEnd" in conv) == wanted
    value = spec.get("value")
    if operator != "matches" or not isinstance(value, str):
        raise bad_request(
            f"the simulator supports only operator 'matches' with a string value on {dimension}, "
            f"got operator {operator!r} value {value!r}"
        )
    if dimension == "divisionId":
        return lambda conv, sess, seg: value in conv.get("divisionIds", ())
    if dimension == "mediaType":
        return lambda conv, sess, seg: sess.get("mediaType") == value
    if dimension == "queueId":
        return lambda conv, sess, seg: seg.get("queueId") == value
    return lambda conv, sess, seg: conv.get(dimension) == value


def _any_segment(view: Record, predicate: Predicate) -> bool:
    for participant in view["participants"]:
        for session in participant.get("sessions", ()):
            for segment in session.get("segments", ()):
                if predicate(view, session, segment):
                    return True
    return False


def _sort_key(view: Record, order_by: str) -> str:
    if order_by == "conversationStart":
        return ts_key(view["conversationStart"])
    if order_by == "conversationEnd":
        end = view.get("conversationEnd")
        return _LATEST if end is None else ts_key(end)
    segments = [
        seg
        for participant in view["participants"]
        for session in participant.get("sessions", ())
        for seg in session.get("segments", ())
    ]
    if order_by == "segmentStart":
        return min((ts_key(s["segmentStart"]) for s in segments), default=_LATEST)
    ends = [ts_key(s["segmentEnd"]) if "segmentEnd" in s else _LATEST for s in segments]
    return max(ends, default=_LATEST)
