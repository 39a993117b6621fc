"""Traces: the span tree of a recall and a remember through the HTTP app, what spans never
carry, ``traceparent`` continued, the trace id in the request's log line, and ``serve``:
nothing loaded with no endpoint, a refusal without the extra, OTLP/HTTP to a collector."""

from __future__ import annotations

import json
import logging
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from psycopg import sql

from konstruct_memory import tracing
from konstruct_memory.api.observability import JsonLines
from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app, traces
from tests.conftest import DatabaseUnderTest, process_env, settings_over
from tests.fakes import BagOfWordsEmbedder
from tests.integration.test_serve import start_serve, wait_healthy

ADMIN = "tracing-admin-token"
AGENT = "55555555-5555-4555-8555-555555555555"
USER = "user-zq81-private"
CONTENT = "the lighthouse keeper hid the quokkasecret under the stairs"
QUERY = "where did the keeper hide the quokkasecret"
NEVER = [USER, "quokkasecret", "lighthouse", "keeper", "stairs"]
RECALL_STAGES = {
    "authenticate",
    "embed query",
    "keyword stage",
    "vector stage",
    "fetch candidates",
    "rank",
    "fetch metadata",
    "write audit",
}
Traced = tuple[TestClient, InMemorySpanExporter, dict[str, str]]


@pytest.fixture(scope="module")
def traced(database: DatabaseUnderTest) -> Iterator[Traced]:
    """The app with tracing on (spans kept in memory), over a memory opened after tracing
    started, so its connections report statements; and a tenant key's header."""
    exporter = InMemorySpanExporter()
    stages = traces.start(SimpleSpanProcessor(exporter))
    previous = tracing.use(stages)
    settings = settings_over(database, failed_auth_burst=1_000_000)
    try:
        with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
            key = memory.create_tenant("traced-" + secrets.token_hex(3)).api_key
            app = create_app(settings, memory=memory, admin_token=ADMIN)
            with TestClient(app) as client:
                yield client, exporter, {"Authorization": f"Bearer {key}"}
    finally:
        tracing.use(previous)
        stages.close()


def remember(client: TestClient, headers: dict[str, str], **more: str) -> None:
    turn = {"agent_id": AGENT, "user_id": USER, "role": "user", "content": CONTENT}
    answer = client.post("/v1/turns", json={"turns": [turn]}, headers=headers | more)
    assert answer.status_code == 201, answer.text


def recall(client: TestClient, headers: dict[str, str], **more: str) -> None:
    body = {"agent_id": AGENT, "user_id": USER, "query": QUERY, "k": 3}
    answer = client.post("/v1/recall", json=body, headers=headers | more)
    assert answer.status_code == 200 and answer.json()["hits"], answer.text


def one_request(spans: Sequence[ReadableSpan]) -> tuple[ReadableSpan, dict[int, list[str]]]:
    """The request's span, and each span's children's names by the parent's span id."""
    roots = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(roots) == 1, [s.name for s in spans]
    children: dict[int, list[str]] = {}
    for span in spans:
        assert span.context is not None and span.context.trace_id == roots[0].context.trace_id
        if span.parent is not None:
            children.setdefault(span.parent.span_id, []).append(span.name)
    return roots[0], children


def by_name(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    return next(s for s in spans if s.name == name)


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def test_the_span_tree_of_a_recall(traced: Traced) -> None:
    client, exporter, headers = traced
    remember(client, headers)
    exporter.clear()
    recall(client, headers)
    spans = exporter.get_finished_spans()
    root, children = one_request(spans)
    assert root.name == "recall" and root.parent is None
    attributes = dict(root.attributes or {})
    assert attributes["http.route"] == "/v1/recall"
    assert attributes["http.response.status_code"] == 200
    assert attributes["konstruct_memory.operation"] == "recall"
    assert {"konstruct_memory.tenant_id", "konstruct_memory.key_id"} <= set(attributes)
    assert set(children[span_id(root)]) >= RECALL_STAGES
    statements = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert all(s.name == s.attributes["db.operation.name"] for s in statements if s.attributes)
    for stage in ("authenticate", "keyword stage", "vector stage", "fetch candidates"):
        assert children.get(span_id(by_name(spans, stage))), f"no statement under {stage}"
    assert "SELECT" in children[span_id(by_name(spans, "write audit"))]


def test_the_span_tree_of_a_remember(traced: Traced) -> None:
    client, exporter, headers = traced
    exporter.clear()
    remember(client, headers)
    spans = exporter.get_finished_spans()
    root, children = one_request(spans)
    assert root.name == "remember"
    assert dict(root.attributes or {})["http.response.status_code"] == 201
    assert {"authenticate", "embed turns", "store turns"} <= set(children[span_id(root)])
    assert "INSERT" in children[span_id(by_name(spans, "store turns"))]


def _texts(span: ReadableSpan) -> Iterator[str]:
    yield span.name
    for attributes in [
        span.attributes,
        *(e.attributes for e in span.events),
        span.resource.attributes,
    ]:
        for name, value in (attributes or {}).items():
            yield name
            yield str(value)


def test_no_content_query_or_user_id_in_any_span(traced: Traced) -> None:
    client, exporter, headers = traced
    exporter.clear()
    remember(client, headers)
    recall(client, headers)
    assert client.get(f"/v1/history?agent_id={AGENT}&user_id={USER}", headers=headers).is_success
    context = {"agent_id": AGENT, "user_id": USER, "query": QUERY}
    assert client.post("/v1/context", json=context, headers=headers).is_success
    across = {"agent_id": AGENT, "query": QUERY}
    assert client.post("/v1/recall/across-users", json=across, headers=headers).is_success
    too_long = {"agent_id": AGENT, "user_id": USER, "query": QUERY * 10_000}
    assert client.post("/v1/recall", json=too_long, headers=headers).status_code == 422
    spans = exporter.get_finished_spans()
    assert len([s for s in spans if s.kind is SpanKind.SERVER]) == 6
    assert any(s.kind is SpanKind.CLIENT and s.attributes for s in spans)
    for span in spans:
        for text in _texts(span):
            for secret in NEVER:
                assert secret not in text, (span.name, text)


def test_traceparent_is_continued_and_the_trace_id_is_logged(traced: Traced) -> None:
    client, exporter, headers = traced
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    lines: list[str] = []

    class Collected(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonLines().format(record))

    access = logging.getLogger("konstruct_memory.access")
    handler, level = Collected(), access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    exporter.clear()
    try:
        recall(client, headers, traceparent=f"00-{trace_id}-{parent_id}-01")
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    root, _ = one_request(exporter.get_finished_spans())
    assert root.context is not None and root.parent is not None
    assert f"{root.context.trace_id:032x}" == trace_id
    assert f"{root.parent.span_id:016x}" == parent_id and root.parent.is_remote
    logged = [json.loads(line) for line in lines]
    assert [line["trace_id"] for line in logged if line.get("event") == "request"] == [trace_id]


def _env(**more: str) -> dict[str, str]:
    env = process_env(**more)
    return {n: v for n, v in env.items() if not n.startswith("OTEL_") or n in more}


_SETUP_UNTRACED = """
import json, sys
from konstruct_memory.cli.serve import refuse_tracing_without_extra, start_tracing
from konstruct_memory.config import Settings
from konstruct_memory.serving import create_app
refuse_tracing_without_extra()
stages = start_tracing()
create_app(Settings(), admin_token="a" * 40)
trace = sys.modules.get("opentelemetry.trace")
print(json.dumps({
    "enabled": stages.enabled,
    "modules": sorted(sys.modules),
    "provider_set": trace is not None and trace._TRACER_PROVIDER is not None,
}))
"""


def test_no_endpoint_no_exporter_and_no_sdk_loaded() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SETUP_UNTRACED],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["enabled"] is False and found["provider_set"] is False
    loaded = [
        m
        for m in found["modules"]
        if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.proto"))
        or m == "konstruct_memory.serving.traces"
    ]
    assert loaded == []


def test_an_endpoint_without_the_extra_is_refused_in_one_line() -> None:
    hidden = (
        "import sys; sys.modules['opentelemetry.sdk'] = None; "
        "sys.argv = ['konstruct-memory', 'serve', '--port', '1']; "
        "from konstruct_memory.entry import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", hidden],
        env=_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "pip install 'konstruct-memory[otel]'" in done.stderr


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_exports_over_otlp_http(database: DatabaseUnderTest) -> None:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    collector = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    port, admin = _free_port(), "a" * 40
    env = _env(
        KONSTRUCT_MEMORY_DATABASE_URL=database.runtime_url,
        KONSTRUCT_MEMORY_ADMIN_DATABASE_URL=database.admin_url,
        KONSTRUCT_MEMORY_ADMIN_TOKEN=admin,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.server_port}",
        OTEL_BSP_SCHEDULE_DELAY="200",
    )
    process = start_serve(port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, 90)
        auth = {"Authorization": f"Bearer {admin}"}
        created = httpx.post(f"{base}/v1/tenants", json={"name": "otlp"}, headers=auth)
        key = {"Authorization": f"Bearer {created.json()['api_key']}"}
        turn = {"agent_id": AGENT, "user_id": USER, "role": "user", "content": CONTENT}
        assert httpx.post(f"{base}/v1/turns", json={"turns": [turn]}, headers=key).is_success
        query = {"agent_id": AGENT, "user_id": USER, "query": QUERY}
        assert httpx.post(f"{base}/v1/recall", json=query, headers=key, timeout=30).is_success
        deadline = time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        collector.shutdown()
    assert process.returncode == 0, stderr
    assert received, "no export arrived"
    names: set[str] = set()
    for path, content_type, body in received:
        assert path == "/v1/traces" and content_type == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert service["service.name"] == "konstruct-memory"
            names |= {s.name for ss in resource_spans.scope_spans for s in ss.spans}
            assert all(secret.encode() not in body for secret in NEVER)
    assert {"recall", "remember", "vector stage", "embed query", "SELECT"} <= names
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert all(len(line["trace_id"]) == 32 for line in logged if line.get("event") == "request")


def test_a_literal_in_a_composed_statement_is_not_recorded(database: DatabaseUnderTest) -> None:
    statement = sql.SQL("SELECT {} FROM {}").format(sql.Literal(USER), sql.Identifier("turns"))
    with psycopg.connect(database.admin_url) as conn:
        text = traces.statement_text(statement, conn.cursor())
    assert text == 'SELECT ? FROM "turns"'
