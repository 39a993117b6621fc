"""The one error tree. Each class carries the HTTP status the API answers with."""

from __future__ import annotations


class KonstructMemoryError(Exception):
    """Base of every error this package raises on purpose."""

    status_code = 500
    code = "internal_error"


class ConfigurationError(KonstructMemoryError):
    """The configuration cannot work; the message says what to change."""

    status_code = 500
    code = "configuration_error"


class UnsafeRuntimeRole(ConfigurationError):
    """The runtime connection could bypass row-level security, so tenants would not be isolated."""

    code = "unsafe_runtime_role"


class EmbeddedServerError(KonstructMemoryError):
    """The embedded PostgreSQL server could not be initialised, started or stopped."""

    status_code = 503
    code = "database_unavailable"


class SchemaOutOfDate(ConfigurationError):
    """The database schema is behind the code; run ``konstruct-memory migrate``."""

    code = "schema_out_of_date"


class EmbeddingUnavailable(KonstructMemoryError):
    """The embedding model could not embed (endpoint down, wrong shape, …)."""

    status_code = 503
    code = "embedding_unavailable"


class InvalidInput(KonstructMemoryError):
    """A field of the request is invalid; ``field`` names it (e.g. ``turns[2].content``)."""

    status_code = 422
    code = "invalid_input"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Conflict(KonstructMemoryError):
    """A turn id is already stored with different fields."""

    status_code = 409
    code = "conflict"


class NotFound(KonstructMemoryError):
    """No such object for this tenant (whether or not it exists for another)."""

    status_code = 404
    code = "not_found"


class Unauthorized(KonstructMemoryError):
    """Missing, unknown or revoked credential."""

    status_code = 401
    code = "unauthorized"


class Forbidden(KonstructMemoryError):
    """The credential is valid but may not do this (a missing scope, or outside its binding)."""

    status_code = 403
    code = "forbidden"


class Unavailable(KonstructMemoryError):
    """The database is unreachable or overloaded; retry later."""

    status_code = 503
    code = "unavailable"


class Overloaded(Unavailable):
    """Too many requests are in flight; retry after ``Retry-After`` seconds."""

    code = "overloaded"


class RateLimited(KonstructMemoryError):
    """Over a rate (the tenant's, or failed authentications from an address); retry after
    ``retry_after`` seconds (the ``Retry-After`` header)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLarge(KonstructMemoryError):
    """The request body is over the configured limit."""

    status_code = 413
    code = "too_large"


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
