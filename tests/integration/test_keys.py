"""Keys are principals: scopes and bindings, enforced by the engine for every face, tested from
the attacker's side through the API and as the runtime role."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from konstruct_memory.auth import keys
from konstruct_memory.db import migrate
from konstruct_memory.errors import Forbidden
from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app
from tests.conftest import DatabaseUnderTest

ADMIN = {"Authorization": "Bearer keys-admin"}
AGENT, OTHER_AGENT = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module")
def client(memory: Memory) -> Iterator[TestClient]:
    app = create_app(memory.settings, memory=memory, admin_token="keys-admin")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def turn(agent: str = AGENT, user: str = "U1") -> dict[str, str]:
    return {"agent_id": agent, "user_id": user, "role": "user", "content": "bound turn"}


def test_a_bound_read_only_key_stays_inside_its_binding(client: TestClient) -> None:
    tenant = client.post("/v1/tenants", json={"name": "bound"}, headers=ADMIN).json()
    writer = bearer(tenant["api_key"])
    assert client.post("/v1/turns", json={"turns": [turn()]}, headers=writer).status_code == 201
    spec = {"name": "support", "agent_id": AGENT, "user_id": "U1", "scopes": ["read"]}
    created = client.post(f"/v1/tenants/{tenant['id']}/api-keys", json=spec, headers=ADMIN)
    assert created.status_code == 201, created.text
    key = created.json()
    assert {k: key[k] for k in spec} == spec and key["api_key"].startswith("km_")
    reader = bearer(key["api_key"])

    recall = {"agent_id": AGENT, "user_id": "U1", "query": "bound"}
    assert len(client.post("/v1/recall", json=recall, headers=reader).json()["hits"]) == 1
    # Bound: agent and user may be left out, in bodies and in queries.
    implied = client.post("/v1/recall", json={"query": "bound"}, headers=reader).json()
    assert [h["user_id"] for h in implied["hits"]] == ["U1"]
    assert len(client.get("/v1/history", headers=reader).json()["turns"]) == 1
    me = client.get("/v1/whoami", headers=reader).json()
    assert (me["agent_id"], me["user_id"], me["scopes"]) == (AGENT, "U1", ["read"])
    unbound = client.post("/v1/recall", json={"query": "bound"}, headers=writer)
    assert unbound.status_code == 422
    assert unbound.json()["error"]["message"].startswith("agent_id: is required")
    for body, field in [
        (recall | {"agent_id": OTHER_AGENT}, "agent_id: this key is bound to agent"),
        (recall | {"user_id": "U2"}, "user_id: this key is bound to user 'U1'"),
    ]:
        refused = client.post("/v1/recall", json=body, headers=reader)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert refused.json()["error"]["message"].startswith(field)
    across = client.post(
        "/v1/recall/across-users", json={"agent_id": AGENT, "query": "bound"}, headers=reader
    )
    assert across.status_code == 403
    write = client.post("/v1/turns", json={"turns": [turn()]}, headers=reader)
    assert write.status_code == 403 and "'write' scope" in write.json()["error"]["message"]
    history = client.get("/v1/history", params={"agent_id": AGENT, "user_id": "U2"}, headers=reader)
    assert history.status_code == 403

    listed = client.get(f"/v1/tenants/{tenant['id']}/api-keys", headers=ADMIN).json()["keys"]
    assert [k["id"] for k in listed] == [tenant["api_key_id"], key["id"]]
    assert all("api_key" not in k and "key_hash" not in k for k in listed)
    assert listed[0]["scopes"] == ["read", "write"] and listed[0]["agent_id"] is None


def test_the_principal_carries_the_key_that_acted(memory: Memory) -> None:
    tenant = memory.create_tenant("principal")
    key = memory.create_api_key(tenant.id, agent_id=AGENT, scopes=["read", "erase"])
    principal = memory.authenticate(key.api_key)
    assert principal is not None
    assert (principal.tenant_id, principal.key_id) == (tenant.id, key.id)
    assert principal.scopes == {"read", "erase"} and str(principal.agent_id) == AGENT
    assert principal.user_id is None
    acting = memory.acting_as(principal)
    with pytest.raises(Forbidden, match="'write' scope"):
        acting.remember([turn()])
    assert acting.recall(AGENT, "anyone", "hello") == []
    memory.revoke_api_key(key.id)
    assert memory.authenticate(key.api_key) is None


def test_the_runtime_role_learns_only_the_presented_keys_principal(
    database: DatabaseUnderTest, memory: Memory
) -> None:
    tenant = memory.create_tenant("lookup")
    with psycopg.connect(database.runtime_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT scopes FROM api_keys").fetchall()
        conn.rollback()
        rows = conn.execute("SELECT * FROM konstruct_authenticate(%s)", [b"\x00" * 32]).fetchall()
        assert rows == []
    assert memory.authenticate(tenant.api_key) is not None


def test_keys_made_before_006_keep_what_they_could_do(
    new_database: Callable[[], DatabaseUnderTest],
) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url, "005")
    digest = keys.key_hash("km_old")
    with psycopg.connect(db.admin_url, autocommit=True) as conn:
        tenant = conn.execute("INSERT INTO tenants (name) VALUES ('old') RETURNING id").fetchone()
        assert tenant is not None
        conn.execute(
            "INSERT INTO api_keys (tenant_id, key_hash) VALUES (%s, %s)", [tenant[0], digest]
        )
    migrate.upgrade(db.admin_url)
    lookup = "SELECT tenant_id, scopes, agent_id, user_id FROM konstruct_authenticate(%s)"
    with psycopg.connect(db.runtime_url) as conn:
        assert conn.execute(lookup, [digest]).fetchall() == [
            (tenant[0], ["read", "write"], None, None)
        ]
    migrate.downgrade(db.admin_url, "005")
    with psycopg.connect(db.runtime_url) as conn:
        row = conn.execute("SELECT konstruct_authenticate(%s)", [digest]).fetchone()
        assert row == (tenant[0],)
