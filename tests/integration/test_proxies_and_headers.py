"""From the attacker's side: ``X-Forwarded-For`` cannot move the failed-authentication throttle
unless the proxy sending it is trusted; a JSON-RPC batch on ``/mcp`` is refused without being
quoted back; every answer says ``nosniff``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from konstruct_memory.config import Settings
from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app
from tests.api import bearer
from tests.serving import serving

ADMIN_TOKEN = "p" * 40
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
MARKER = "reflected-7f3a9c"


def guesses(memory: Memory, forwarded_for: list[str], **settings: object) -> list[int]:
    """The statuses of bad keys sent from 127.0.0.1, one per ``X-Forwarded-For`` value, to the
    app served as ``serve`` serves it (three failures allowed, then one per 100 s)."""
    configured = memory.settings.model_copy(
        update={"failed_auth_burst": 3, "failed_auth_per_s": 0.01, **settings}
    )
    app = create_app(configured, memory=memory, admin_token=ADMIN_TOKEN)
    with serving(app, configured) as port:
        return [
            httpx.get(
                f"http://127.0.0.1:{port}/v1/whoami",
                headers=bearer("km_guess") | {"X-Forwarded-For": address},
                timeout=30,
            ).status_code
            for address in forwarded_for
        ]


def test_forwarded_for_is_ignored_by_default(memory: Memory) -> None:
    spoofed = [f"203.0.113.{n}" for n in range(6)]
    assert guesses(memory, spoofed) == [401, 401, 401, 429, 429, 429]


def test_forwarded_for_is_believed_from_a_trusted_proxy(memory: Memory) -> None:
    spoofed = [f"203.0.113.{n}" for n in range(6)]
    assert guesses(memory, spoofed, trusted_proxies=["127.0.0.1"]) == [401] * 6
    one_client = ["198.51.100.7"] * 5
    assert guesses(memory, one_client, trusted_proxies=["127.0.0.1"]) == [401] * 3 + [429] * 2


def test_trusted_proxies_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().trusted_proxies == []
    monkeypatch.setenv("KONSTRUCT_MEMORY_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    assert Settings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]


@pytest.fixture
def client(memory: Memory) -> Iterator[TestClient]:
    app = create_app(memory.settings, memory=memory, admin_token=ADMIN_TOKEN)
    # A loopback Host: the MCP transport refuses others (DNS rebinding).
    with TestClient(app, base_url="http://127.0.0.1:8080", raise_server_exceptions=False) as client:
        yield client


def agent_key(client: TestClient) -> tuple[str, str]:
    """A new tenant's unbound key and an agent-bound one."""
    admin = bearer(ADMIN_TOKEN)
    tenant = client.post("/v1/tenants", json={"name": "headers"}, headers=admin).json()
    bound = client.post(
        f"/v1/tenants/{tenant['id']}/api-keys",
        json={"agent_id": str(uuid.uuid4())},
        headers=admin,
    ).json()
    return tenant["api_key"], bound["api_key"]


def test_a_batch_or_a_malformed_message_is_refused_without_quoting_it(
    client: TestClient,
) -> None:
    _, key = agent_key(client)
    headers = bearer(key) | MCP_HEADERS
    probe = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    batch = [probe | {"params": {"note": MARKER}}, probe | {"id": 2}]
    refused = client.post("/mcp", json=batch, headers=headers)
    assert refused.status_code == 400
    assert MARKER not in refused.text and "batch" in refused.json()["error"]["message"]
    for malformed in ({"jsonrpc": "2.0", MARKER: 1}, {"jsonrpc": "1.0", "id": MARKER}, MARKER):
        answer = client.post("/mcp", json=malformed, headers=headers)
        assert answer.status_code == 400 and MARKER not in answer.text, malformed
    assert client.post("/mcp", json=probe, headers=headers).status_code == 200


def test_every_answer_says_nosniff(client: TestClient) -> None:
    unbound, bound = agent_key(client)
    key, admin = bearer(unbound), bearer(ADMIN_TOKEN)
    answers = [
        client.get("/v1/whoami", headers=key),
        client.get("/v1/whoami"),
        client.get("/v1/whoami", headers=bearer("km_guess")),
        client.get(f"/v1/turns/{uuid.uuid4()}", headers=key),
        client.post("/v1/recall", json={"query": ""}, headers=key),
        client.post("/v1/recall", content=b"{", headers=key),
        client.get("/v1/tenants", headers=admin),
        client.delete("/v1/whoami", headers=key),
        client.get("/v1/nowhere", headers=key),
        client.get("/nowhere"),
        client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        client.post("/mcp", json=[], headers=bearer(bound) | MCP_HEADERS),
        client.put("/mcp", headers=bearer(bound) | MCP_HEADERS),
        client.get("/healthz"),
        client.get("/openapi.json"),
    ]
    assert len({answer.status_code for answer in answers}) >= 6
    for answer in answers:
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", (
            answer.request.method,
            answer.request.url.path,
            answer.status_code,
        )
