"""The project's error tree, by what the caller does next.

    EtlError                 root: anything this project raises on purpose
    ├── ConfigError          fix a setting or an environment variable, then start again
    ├── ApiError             the Genesys Cloud API answered badly
    │   ├── RetriableApiError  throttled, unavailable or timed out: retry later, the batch fails
    │   └── FatalApiError      refused (bad request, credentials, permissions): a person must act
    │       └── PagingCapError   an interval holds more than one query may page through
    ├── BadRecordError       one payload cannot be curated: quarantine it with the reason
    ├── DataQualityError     a `stop` data-quality rule failed: the curate batch fails
    └── SinkError            MongoDB refused a write: the batch fails and is retried on restart

Foreign errors (requests, pymongo) are translated at the edge with ``raise ... from``.
"""

from __future__ import annotations


class EtlError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(EtlError):
    """The configuration is incomplete or invalid; the message lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}")


class ApiError(EtlError):
    """The Genesys Cloud API answered with an error; never carries a token or a secret."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        self.status = status
        self.code = code
        super().__init__(message)


class RetriableApiError(ApiError):
    """Throttling (429), server errors (5xx) or a network failure that outlasted our retries."""


class FatalApiError(ApiError):
    """A refusal that retrying cannot fix: 400, 403, 404, or credentials that do not work."""


class PagingCapError(FatalApiError):
    """An interval too short to split still reports more conversations than the paging cap."""


class BadRecordError(EtlError):
    """A single payload cannot be curated; it goes to quarantine with this reason."""


class DataQualityError(EtlError):
    """A data-quality rule of severity `stop` failed; the curate batch must not commit."""

    def __init__(
        self, message: str, *, rule: str, batch: str, sample_ids: list[str] | None = None
    ) -> None:
        self.rule = rule
        self.batch = batch
        self.sample_ids = list(sample_ids or [])
        super().__init__(message)


class SinkError(EtlError):
    """MongoDB refused or lost a write; the batch fails so that a restart redoes it."""
