"""OpenTelemetry traces: ``serve`` with an OTLP endpoint configured (the ``[otel]`` extra).

Imported only when tracing is on (``konstruct_memory.tracing`` stands in when it is off).
Spans go over OTLP/HTTP (protobuf) to the endpoint of the SDK's own variables, sampled as
``OTEL_TRACES_SAMPLER`` says; nothing else is ever sent (no metrics, no logs).

One span per request (``TraceRequests``), named after the operation, continuing the caller's
trace when it sends ``traceparent``; under it the engine's stages and one span per SQL
statement. What a span carries: the operation's name, the route template, the method, the
status, the tenant's and the key's ids; a statement's text (never its parameters); and for a
failure the exception's class. Never stored content, query text, a user id, a raw path or
query string, headers, or an exception's message (database errors quote values).

The provider is this module's own, not OpenTelemetry's global one, so libraries that trace
through the global API (the MCP SDK does, with error messages) stay silent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import psycopg
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from psycopg import sql
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from konstruct_memory.operations import BY_NAME

P = ParamSpec("P")
T = TypeVar("T")

SERVICE_NAME = "konstruct-memory"
PREFIX = "konstruct_memory."
_OPERATIONS: dict[tuple[str, str], str] = {(op.method, op.path): op.name for op in BY_NAME.values()}
_PROPAGATOR = TraceContextTextMapPropagator()


class OtelStages:
    """The engine's stage hooks as spans of ``provider``."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("konstruct_memory")
        self._cursor = type("TracedCursor", (TracedCursor,), {"tracer": self.tracer})

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        # Exceptions are recorded here, by class: the SDK's own recording keeps the message.
        with self.tracer.start_as_current_span(
            name, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield
            except BaseException as exc:
                failed(span, exc)
                raise

    def carried(self, work: Callable[P, T]) -> Callable[P, T]:
        parent = otel_context.get_current()

        @functools.wraps(work)
        def in_trace(*args: P.args, **kwargs: P.kwargs) -> T:
            token = otel_context.attach(parent)
            try:
                return work(*args, **kwargs)
            finally:
                otel_context.detach(token)

        return in_trace

    def trace_id(self) -> str | None:
        context = trace.get_current_span().get_span_context()
        return f"{context.trace_id:032x}" if context.is_valid else None

    def instrument(self, connection: Any) -> None:
        connection.cursor_factory = self._cursor

    def close(self) -> None:
        self.provider.shutdown()  # sends the spans still queued


def failed(span: Span, exc: BaseException) -> None:
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR))


def _without_literals(query: sql.Composable) -> sql.Composable:
    """A composed statement with each literal value as ``?``: its SQL, identifiers and
    placeholders are code, a literal is data."""
    if isinstance(query, sql.Literal):
        return sql.SQL("?")
    if isinstance(query, sql.Composed):
        return sql.Composed([_without_literals(part) for part in query])
    return query


def statement_text(query: Any, context: psycopg.Cursor[Any]) -> str:
    """A statement's text, whitespace folded; parameters stay placeholders."""
    if isinstance(query, sql.Composable):
        query = _without_literals(query).as_string(context)
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    return " ".join(str(query).split())


class TracedCursor(psycopg.Cursor[Any]):
    """A cursor whose statements are spans: their text, never their parameters."""

    tracer: trace.Tracer

    @contextmanager
    def _span(self, query: Any) -> Iterator[None]:
        with self.tracer.start_as_current_span(
            "SQL", kind=SpanKind.CLIENT, record_exception=False, set_status_on_exception=False
        ) as span:
            if span.is_recording():  # a span the sampler dropped is not worth the rendering
                text = statement_text(query, self)
                verb = text.lstrip("( ").split(" ", 1)[0].upper() or "SQL"
                span.update_name(verb)
                span.set_attributes(
                    {
                        "db.system.name": "postgresql",
                        "db.operation.name": verb,
                        "db.query.text": text,
                    }
                )
            try:
                yield
            except BaseException as exc:
                failed(span, exc)
                raise

    def execute(self, query: Any, params: Any = None, **options: Any) -> TracedCursor:
        with self._span(query):
            super().execute(query, params, **options)
        return self

    def executemany(self, query: Any, params_seq: Any, **options: Any) -> None:
        with self._span(query):
            super().executemany(query, params_seq, **options)


class TraceRequests:
    """ASGI, outermost: a server span per HTTP request, continuing ``traceparent``."""

    def __init__(self, app: ASGIApp, stages: OtelStages) -> None:
        self.app = app
        self.tracer = stages.tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        parent = _PROPAGATOR.extract(headers)
        method = scope["method"]
        span = self.tracer.start_span(
            method, context=parent, kind=SpanKind.SERVER, attributes={"http.request.method": method}
        )
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, sending)
        except BaseException as exc:
            failed(span, exc)
            raise
        finally:
            _describe(span, scope, method, status)
            span.end()
            otel_context.detach(token)


def _describe(span: Span, scope: Scope, method: str, status: int) -> None:
    """Name and attributes known once the request has been routed and answered: the route's
    template (never the raw path, which holds ids), the operation, the principal's ids."""
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    operation = _OPERATIONS.get((method, route))
    span.update_name(operation or f"{method} {route}")
    state = scope.get("state") or {}
    principal = state.get("principal")
    key_id = getattr(principal, "key_id", None) or state.get("key_id")
    tenant_id = state.get("tenant_id")
    attributes: dict[str, str | int] = {"http.route": route, "http.response.status_code": status}
    if operation:
        attributes[PREFIX + "operation"] = operation
    if tenant_id:
        attributes[PREFIX + "tenant_id"] = str(tenant_id)
    if key_id:
        attributes[PREFIX + "key_id"] = str(key_id)
    span.set_attributes(attributes)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def start(processor: SpanProcessor) -> OtelStages:
    """Stages whose spans go to ``processor`` (the OTLP exporter's, or a test's)."""
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))  # no OTEL_SERVICE_NAME
    provider = TracerProvider(resource=resource)  # the sampler: OTEL_TRACES_SAMPLER(_ARG)
    provider.add_span_processor(processor)
    return OtelStages(provider)


def export_over_otlp() -> OtelStages:
    """Stages exporting in batches over OTLP/HTTP to the configured endpoint."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return start(BatchSpanProcessor(OTLPSpanExporter()))
