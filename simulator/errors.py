"""Genesys Platform API error bodies (``ErrorBody``) and the exception that carries them."""

from __future__ import annotations

from typing import Any

# Default (code, message) per status, as the Platform API answers them.
_DEFAULTS: dict[int, tuple[str, str]] = {
    400: (
        "bad.request",
        "The request could not be understood by the server due to malformed syntax.",
    ),
    401: ("bad.credentials", "Invalid login credentials."),
    403: (
        "missing.any.permissions",
        "Unable to perform the requested action. You must have at least one of the following "
        "permissions assigned: [analytics:conversationDetail:view]",
    ),
    404: ("not.found", "The requested resource was not found."),
    405: ("method.not.allowed", "The requested method is not allowed on this resource."),
    413: ("request.entity.too.large", "The request body is too large."),
    415: (
        "unsupported.media.type",
        "Unsupported Media Type - Unsupported or incorrect media type.",
    ),
    429: ("too.many.requests.retry.after", "Rate limit exceeded the maximum."),
    500: ("internal.server.error", "The server encountered an unexpected condition."),
    502: ("bad.gateway", "Bad Gateway - The server received an invalid response upstream."),
    503: (
        "service.unavailable",
        "Service Unavailable - The server is currently unavailable (because it is overloaded or "
        "down for maintenance).",
    ),
    504: ("request.timeout", "The request timed out."),
}

NO_TOKEN = (
    "authentication.required",
    "No authentication bearer token specified in authorization header.",
)
BAD_TOKEN = ("bad.credentials", "Invalid login credentials.")
EXPIRED_TOKEN = ("credentials.expired", "The supplied credentials have expired.")


class ApiError(Exception):
    """An error answer: HTTP status, Genesys error code, message and extra headers.

    Args:
        status: HTTP status code.
        code: Genesys error code, e.g. ``bad.request``; defaults to the usual code for ``status``.
        message: Human-readable message; defaults to the usual message for ``status``.
        headers: Extra response headers, e.g. ``Retry-After``.
        params: Values behind ``messageWithParams``; when given, the body carries both the
            template and ``messageParams`` as ``ErrorBody`` does.
        template: The message with ``{name}`` placeholders for ``params``.
    """

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        template: str | None = None,
    ) -> None:
        default_code, default_message = _DEFAULTS.get(status, ("error", f"HTTP {status}"))
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        self.headers = dict(headers or {})
        self.params = dict(params or {})
        self.template = template
        super().__init__(f"{self.status} {self.code}: {self.message}")

    def body(self, context_id: str) -> dict[str, Any]:
        """Return the JSON error body, tagged with the request's correlation id."""
        body: dict[str, Any] = {
            "message": self.message,
            "code": self.code,
            "status": self.status,
        }
        if self.template is not None:
            body["messageWithParams"] = self.template
            body["messageParams"] = dict(self.params)
        body.update({"contextId": context_id, "details": [], "errors": []})
        return body


def rate_limited(retry_after: int) -> ApiError:
    """Return the 429 the API sends when the per-token budget is spent."""
    return ApiError(
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
        {"Retry-After": str(retry_after)},
    )


def bad_request(message: str, code: str = "bad.request") -> ApiError:
    """Return a 400 with a specific message."""
    return ApiError(400, code, message)


def fault_error(status: int, retry_after: int) -> ApiError:
    """Return the error a fault rule injects for ``status``, with its real Genesys body."""
    if status == 429:
        return rate_limited(retry_after)
    return ApiError(status)


def paging_cap_exceeded(page_size: int, page_number: int, max_results: int) -> ApiError:
    """Return the 400 for a details-query page that reaches past the paging cap.

    No public capture of this answer exists; the body follows the ``ErrorBody`` model (message,
    code, status, messageWithParams, messageParams, contextId, details, errors) with the
    generic ``bad.request`` code that the API uses for other invalid query bodies.
    """
    template = (
        "Paging is limited to {maxResults} results; pageNumber {pageNumber} with pageSize "
        "{pageSize} reaches result {lastResult}. Narrow the interval or add filters."
    )
    params = {
        "maxResults": str(max_results),
        "pageNumber": str(page_number),
        "pageSize": str(page_size),
        "lastResult": str(page_size * page_number),
    }
    return ApiError(400, "bad.request", template.format(**params), params=params, template=template)
