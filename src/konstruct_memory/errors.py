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
