"""Page-number entity listings with the real ``*EntityListing`` envelope and relative URIs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simulator.errors import bad_request

Entity = dict[str, Any]

DEFAULT_PAGE_SIZE = 25
USER_STATES = ("active", "inactive", "deleted")


@dataclass(frozen=True)
class ListingSpec:
    """One listing endpoint.

    Attributes:
        path: The endpoint path, e.g. ``/api/v2/users``.
        attribute: The `ContactCenter` attribute holding its entities.
        max_page_size: Largest accepted pageSize; above it the API answers 400.
    """

    path: str
    attribute: str
    max_page_size: int


LISTINGS: dict[str, ListingSpec] = {
    spec.path: spec
    for spec in (
        ListingSpec("/api/v2/users", "users", 500),
        ListingSpec("/api/v2/routing/queues", "queues", 500),
        ListingSpec("/api/v2/routing/skills", "skills", 500),
        ListingSpec("/api/v2/routing/wrapupcodes", "wrapup_codes", 100),
        ListingSpec("/api/v2/authorization/divisions", "divisions", 100),
    )
}


def int_param(params: dict[str, list[str]], name: str, default: int, minimum: int = 1) -> int:
    """Return the integer query parameter ``name``, or raise a 400 naming the bad value."""
    values = params.get(name)
    if not values:
        return default
    raw = values[-1]
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw!r}", "invalid.value") from None
    if value < minimum:
        raise bad_request(f"{name} must be >= {minimum}, got {value}", "invalid.value")
    return value


def listing_page(
    spec: ListingSpec, entities: Sequence[Entity], params: dict[str, list[str]]
) -> dict[str, Any]:
    """Return one page of ``entities`` for a listing request.

    Raises:
        ApiError: 400 for a bad pageSize/pageNumber or an unknown user ``state``.
    """
    page_size = int_param(params, "pageSize", DEFAULT_PAGE_SIZE)
    page_number = int_param(params, "pageNumber", 1)
    if page_size > spec.max_page_size:
        raise bad_request(
            f"pageSize {page_size} is too large for {spec.path}; the maximum is "
            f"{spec.max_page_size}",
            "invalid.value",
        )
    extra = ""
    if spec.attribute == "users":
        state = (params.get("state") or ["active"])[-1]
        if state != "any" and state not in USER_STATES:
            raise bad_request(
                f"state must be one of active, inactive, deleted or any, got {state!r}",
                "invalid.value",
            )
        if state != "any":
            entities = [user for user in entities if user.get("state", "active") == state]
        if params.get("state"):
            extra = f"&state={state}"
    total = len(entities)
    page_count = math.ceil(total / page_size)
    first = (page_number - 1) * page_size
    envelope: dict[str, Any] = {
        "entities": [dict(item) for item in entities[first : first + page_size]],
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "firstUri": _uri(spec.path, page_size, 1, extra),
        "selfUri": _uri(spec.path, page_size, page_number, extra),
    }
    if page_number < page_count:
        envelope["nextUri"] = _uri(spec.path, page_size, page_number + 1, extra)
    if page_number > 1:
        envelope["previousUri"] = _uri(spec.path, page_size, page_number - 1, extra)
    envelope["lastUri"] = _uri(spec.path, page_size, max(page_count, 1), extra)
    envelope["pageCount"] = page_count
    return envelope


def _uri(path: str, page_size: int, page_number: int, extra: str) -> str:
    return f"{path}?pageSize={page_size}&pageNumber={page_number}{extra}"
