"""Rate limits from the outside: a tenant over its rate gets 429 with Retry-After on REST and
/mcp alike, other tenants do not notice; an address that keeps failing authentication is
refused before its credentials are looked at."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app
from tests.api import bearer

ADMIN = bearer("b" * 40)
AGENT = str(uuid.uuid4())
PROBE = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def client(memory: Memory) -> Iterator[TestClient]:
    settings = memory.settings.model_copy(
        update={"failed_auth_burst": 3, "failed_auth_per_s": 0.01}
    )
    app = create_app(settings, memory=memory, admin_token="b" * 40)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_tenant_over_its_rate_gets_429_and_others_do_not(client: TestClient) -> None:
    limited = client.post("/v1/tenants", json={"name": "limited"}, headers=ADMIN).json()
    free = client.post("/v1/tenants", json={"name": "free"}, headers=ADMIN).json()
    patched = client.patch(
        f"/v1/tenants/{limited['id']}", json={"rate_limit_per_s": 2}, headers=ADMIN
    )
    assert patched.status_code == 200 and patched.json()["rate_limit_per_s"] == 2
    history = {"agent_id": AGENT, "user_id": "U1"}
    key, other = bearer(limited["api_key"]), bearer(free["api_key"])
    answers = [client.get("/v1/history", params=history, headers=key) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert all(
        client.get("/v1/history", params=history, headers=other).status_code == 200
        for _ in range(4)
    )
    agent_key = client.post(
        f"/v1/tenants/{limited['id']}/api-keys", json={"agent_id": AGENT}, headers=ADMIN
    ).json()["api_key"]
    # /mcp shares the tenant's bucket. A rate slow enough that no token comes back between
    # draining it and the probe, however busy the machine.
    slowed = client.patch(
        f"/v1/tenants/{limited['id']}", json={"rate_limit_per_s": 0.05}, headers=ADMIN
    )
    assert slowed.status_code == 200
    drained = [client.get("/v1/whoami", headers=bearer(agent_key)).status_code for _ in range(3)]
    assert 429 in drained
    mcp = client.post("/mcp", json=PROBE, headers={**bearer(agent_key), **MCP_HEADERS})
    assert mcp.status_code == 429 and "Retry-After" in mcp.headers
    metrics = client.get("/metrics").text
    assert 'konstruct_memory_rejected_total{reason="rate_limit"}' in metrics
    lifted = client.patch(
        f"/v1/tenants/{limited['id']}", json={"rate_limit_per_s": None}, headers=ADMIN
    )
    assert lifted.json()["rate_limit_per_s"] is None
    zero = client.patch(f"/v1/tenants/{limited['id']}", json={"rate_limit_per_s": 0}, headers=ADMIN)
    assert zero.status_code == 422 and "rate_limit_per_s" in zero.json()["error"]["message"]


def test_an_address_that_keeps_failing_authentication_is_throttled(client: TestClient) -> None:
    tenant = client.post("/v1/tenants", json={"name": "victim"}, headers=ADMIN).json()
    for _ in range(3):
        assert client.get("/v1/whoami", headers=bearer("km_guess")).status_code == 401
    throttled = client.get("/v1/whoami", headers=bearer(tenant["api_key"]))
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert client.get("/v1/tenants", headers=ADMIN).status_code == 429, "admin routes too"
    assert client.post("/mcp", json=PROBE, headers=MCP_HEADERS).status_code == 429
    assert client.get("/healthz").status_code == 200
