"""The one error tree. Each class carries the HTTP status the API answers with."""

from __future__ import annotations


class KonstructMemoryError(Exception):
    """Base of every error this package raises on purpose. A subclass declares its HTTP status
    and code where it is named: ``class NotFound(KonstructMemoryError, status=404, code=…)``."""

    status_code = 500
    code = "internal_error"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None) -> None:
        super().__init_subclass__()
        if status is not None:
            cls.status_code = status
        if code is not None:
            cls.code = code


class ConfigurationError(KonstructMemoryError, status=500, code="configuration_error"):
    """The configuration cannot work; the message says what to change."""


class UnsafeRuntimeRole(ConfigurationError, code="unsafe_runtime_role"):
    """The runtime connection could bypass row-level security, so tenants would not be isolated."""


class EmbeddedServerError(KonstructMemoryError, status=503, code="database_unavailable"):
    """The embedded PostgreSQL server could not be initialised, started or stopped."""


class SchemaOutOfDate(ConfigurationError, code="schema_out_of_date"):
    """The database schema is behind the code; run ``konstruct-memory migrate``."""


class EmbeddingUnavailable(KonstructMemoryError, status=503, code="embedding_unavailable"):
    """The embedding model could not embed (endpoint down, wrong shape, …)."""


class InvalidInput(KonstructMemoryError, status=422, code="invalid_input"):
    """A field of the request is invalid; ``field`` names it (e.g. ``turns[2].content``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Conflict(KonstructMemoryError, status=409, code="conflict"):
    """A turn id is already stored with different fields."""


class NotFound(KonstructMemoryError, status=404, code="not_found"):
    """No such object for this tenant (whether or not it exists for another)."""


class Unauthorized(KonstructMemoryError, status=401, code="unauthorized"):
    """Missing, unknown or revoked credential."""


class Forbidden(KonstructMemoryError, status=403, code="forbidden"):
    """The credential is valid but may not do this (a missing scope, or outside its binding)."""


class Unavailable(KonstructMemoryError, status=503, code="unavailable"):
    """The database is unreachable or overloaded; retry later."""


class Overloaded(Unavailable, code="overloaded"):
    """Too many requests are in flight; retry after ``Retry-After`` seconds."""


class RateLimited(KonstructMemoryError, status=429, code="rate_limited"):
    """Over a rate (the tenant's, or failed authentications from an address); retry after
    ``retry_after`` seconds (the ``Retry-After`` header)."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLarge(KonstructMemoryError, status=413, code="too_large"):
    """The request body is over the configured limit."""


def error_for(code: str, message: str) -> KonstructMemoryError:
    """The error an API answer ``{"error": {"code", "message"}}`` stands for (client side)."""
    if code == InvalidInput.code:
        field, _, problem = message.partition(": ")
        return InvalidInput(field, problem)
    classes: list[type[KonstructMemoryError]] = [
        Conflict,
        NotFound,
        Unauthorized,
        Forbidden,
        Unavailable,
        Overloaded,
        RateLimited,
        PayloadTooLarge,
        EmbeddingUnavailable,
    ]
    for cls in classes:
        if cls.code == code:
            return cls(message)
    return KonstructMemoryError(f"{code}: {message}")
