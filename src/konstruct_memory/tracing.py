"""Stage spans for the engine and the database layer, free of OpenTelemetry.

The engine marks the stages of its work (``with tracing.stage("vector stage"):``) through the
process's active ``Stages``. Unless ``serve`` found an OTLP endpoint configured, that is
``NullStages``: each hook returns one shared do-nothing context manager, so tracing that is
off costs a function call per stage and loads nothing. ``serving.traces`` holds the
OpenTelemetry implementation and is imported only when tracing is on; this module never
imports it, so the engine stays free of OpenTelemetry.

What a span may carry is decided there: names, route templates, statuses and ids of tenants
and keys, never stored content, query text, user ids or SQL parameters.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# The OpenTelemetry SDK's own variables: either one turns tracing on for ``serve``.
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
INSTALL_HINT = "pip install 'konstruct-memory[otel]'"


class Stages(Protocol):
    """Where the engine's stage hooks go: spans, or nothing."""

    @property
    def enabled(self) -> bool: ...

    def stage(self, name: str) -> AbstractContextManager[None]:
        """A span for a stage of the current request's work, a child of the current span."""
        ...

    def carried(self, work: Callable[P, T]) -> Callable[P, T]:
        """``work`` as a callable that runs in the caller's trace on another thread (a pool's
        threads do not inherit the submitter's context)."""
        ...

    def trace_id(self) -> str | None:
        """The current trace's id as 32 hex digits, or None outside a trace."""
        ...

    def instrument(self, connection: Any) -> None:
        """Make ``connection`` (a new psycopg connection) report a span per statement."""
        ...

    def close(self) -> None:
        """Send what is pending and stop."""
        ...


_NOTHING: AbstractContextManager[None] = nullcontext()


class NullStages:
    """Tracing off: every hook does nothing, at the cost of a call."""

    enabled = False

    def stage(self, name: str) -> AbstractContextManager[None]:
        return _NOTHING

    def carried(self, work: Callable[P, T]) -> Callable[P, T]:
        return work

    def trace_id(self) -> str | None:
        return None

    def instrument(self, connection: Any) -> None:
        pass

    def close(self) -> None:
        pass


_active: Stages = NullStages()


def active() -> Stages:
    return _active


def use(stages: Stages) -> Stages:
    """Make ``stages`` the process's hooks; returns the ones it replaces (to put back)."""
    global _active
    previous, _active = _active, stages
    return previous


def stage(name: str) -> AbstractContextManager[None]:
    """A span for a stage of the current request's work (nothing when tracing is off)."""
    return _active.stage(name)


def carried(work: Callable[P, T]) -> Callable[P, T]:
    return _active.carried(work)


def endpoint_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether an OTLP endpoint for traces is set: the condition for tracing at all."""
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def extra_missing() -> str | None:
    """The module the ``[otel]`` extra provides that cannot be imported, or None."""
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as exc:
        return exc.name or "opentelemetry"
    return None
