"""Erasure on request, tested through the API with keys of every kind and from the attacker's
side as the runtime role: nothing erased stays reachable, nothing else is touched."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from konstruct_memory.errors import Conflict
from konstruct_memory.library import Memory, TenantMemory
from tests.api import Api, bearer, serving
from tests.conftest import DatabaseUnderTest, settings_over
from tests.fakes import BagOfWordsEmbedder

ADMIN = {"Authorization": "Bearer erase-admin"}
AGENT, OTHER_AGENT = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module")
def api(memory: Memory) -> Iterator[Api]:
    with serving(memory, "erase-admin") as api:
        yield api


def remember(client: TestClient, key: dict[str, str], *turns: dict[str, Any]) -> None:
    answer = client.post("/v1/turns", json={"turns": list(turns)}, headers=key)
    assert answer.status_code == 201, answer.text


def said(user: str, content: str, agent: str = AGENT, **more: Any) -> dict[str, Any]:
    return {"agent_id": agent, "user_id": user, "role": "user", "content": content, **more}


def test_an_erased_user_is_unreachable_from_every_read_and_a_repeat_erases_nothing(
    api: Api, database: DatabaseUnderTest
) -> None:
    client = api.client
    tenant_id, writer = api.new_tenant()
    remember(
        client,
        writer,
        said("U1", "My dog is called Biscuit"),
        said("U1", "Biscuit loves the beach at Nazare"),
        said("U1", "I work as a lighthouse keeper", agent=OTHER_AGENT),
        said("U2", "My dog is called Pepper"),
    )
    eraser = api.new_key(tenant_id, scopes=["erase"])
    erased = client.post("/v1/erasures", json={"user_id": "U1"}, headers=bearer(eraser["api_key"]))
    assert erased.status_code == 201, erased.text
    entry = erased.json()
    assert {"id", "turns_erased", "requested_at", "completed_at"} <= set(entry)
    assert (entry["kind"], entry["turns_erased"], entry["key_id"]) == ("user", 3, eraser["id"])

    reads = [
        client.post(
            "/v1/recall", json={"agent_id": AGENT, "user_id": "U1", "query": "dog"}, headers=writer
        ),
        client.post(
            "/v1/recall",
            json={"agent_id": AGENT, "user_id": "U1", "query": "Biscuit Nazare"},
            headers=writer,
        ),
        client.get("/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=writer),
        client.get(
            "/v1/history", params={"agent_id": OTHER_AGENT, "user_id": "U1"}, headers=writer
        ),
        client.post(
            "/v1/context",
            json={"agent_id": AGENT, "user_id": "U1", "query": "Biscuit"},
            headers=writer,
        ),
        client.post(
            "/v1/recall/across-users",
            json={"agent_id": AGENT, "query": "dog Biscuit"},
            headers=writer,
        ),
    ]
    for read in reads:
        assert read.status_code == 200, read.text
        assert "Biscuit" not in read.text and "lighthouse" not in read.text
    across = reads[-1].json()["hits"]
    assert [hit["user_id"] for hit in across] == ["U2"], "other users are untouched"

    again = client.post("/v1/erasures", json={"user_id": "U1"}, headers=bearer(eraser["api_key"]))
    assert again.status_code == 201 and again.json()["turns_erased"] == 0
    assert again.json()["subject_hash"] == entry["subject_hash"], "a repeat matches the first"
    ledger = client.get("/v1/erasures", headers=bearer(eraser["api_key"])).json()["erasures"]
    assert [e["id"] for e in ledger] == [entry["id"], again.json()["id"]]
    # The ledger holds no personal data: the subject is a keyed hash, never the user id.
    with psycopg.connect(database.superuser_url) as conn:
        rows = conn.execute(
            "SELECT e::text FROM erasures e WHERE tenant_id = %s", [tenant_id]
        ).fetchall()
        assert rows and not any("U1" in row[0] for row in rows)
        left = conn.execute(
            "SELECT count(*) FROM conversation_embeddings WHERE tenant_id = %s AND user_id = 'U1'",
            [tenant_id],
        ).fetchone()
        assert left == (0,)


def test_erasing_needs_the_scope_and_stays_inside_the_tenant_and_the_binding(
    api: Api,
) -> None:
    client = api.client
    tenant_a, writer_a = api.new_tenant()
    remember(client, writer_a, said("U1", "tenant A's secret"), said("U1", "x", agent=OTHER_AGENT))
    tenant_b, _ = api.new_tenant()
    eraser_b = api.key_headers(tenant_b, scopes=["erase"])

    foreign = client.post("/v1/erasures", json={"user_id": "U1"}, headers=eraser_b)
    assert foreign.status_code == 201 and foreign.json()["turns_erased"] == 0
    no_scope = client.post("/v1/erasures", json={"user_id": "U1"}, headers=writer_a)
    assert no_scope.status_code == 403 and "'erase' scope" in no_scope.json()["error"]["message"]
    nothing = client.post(
        "/v1/erasures",
        json={},
        headers=api.key_headers(tenant_a, scopes=["erase"]),
    )
    assert nothing.status_code == 422 and nothing.json()["error"]["message"].startswith("user_id")

    bound = bearer(api.new_key(tenant_a, agent_id=AGENT, user_id="U1", scopes=["erase"])["api_key"])
    other_user = client.post("/v1/erasures", json={"user_id": "U2"}, headers=bound)
    assert other_user.status_code == 403
    assert client.get("/v1/erasures", headers=bound).status_code == 403
    own = client.post("/v1/erasures", json={}, headers=bound)
    assert own.status_code == 201 and own.json()["turns_erased"] == 1, "only (AGENT, U1)"
    history = client.get(
        "/v1/history", params={"agent_id": OTHER_AGENT, "user_id": "U1"}, headers=writer_a
    )
    assert len(history.json()["turns"]) == 1, "the other agent's turns stay"

    admin = client.post(f"/v1/tenants/{tenant_a}/erasures", json={"user_id": "U1"}, headers=ADMIN)
    assert admin.status_code == 201 and admin.json()["turns_erased"] == 1
    assert (
        client.post(
            f"/v1/tenants/{tenant_a}/erasures", json={"user_id": "U1"}, headers=writer_a
        ).status_code
        == 401
    )
    missing = client.post(
        f"/v1/tenants/{uuid.uuid4()}/erasures", json={"user_id": "U1"}, headers=ADMIN
    )
    assert missing.status_code == 404
    listed = client.get(f"/v1/tenants/{tenant_a}/erasures", headers=ADMIN).json()["erasures"]
    assert [e["kind"] for e in listed] == ["agent_user", "user"]


def test_the_runtime_role_cannot_delete_and_the_functions_need_a_tenant(
    database: DatabaseUnderTest, memory: Memory
) -> None:
    tenant = memory.create_tenant("attacker")
    memory.tenant(tenant.id).remember([said("U1", "keep me")])
    with psycopg.connect(database.runtime_url, autocommit=True) as conn:
        for table in ("conversation_embeddings", "read_audit", "erasures", "erased_turns"):
            for privilege in ("DELETE", "UPDATE", "TRUNCATE"):
                row = conn.execute(
                    "SELECT has_table_privilege(%s, %s)", [table, privilege]
                ).fetchone()
                assert row == (False,), (table, privilege)
        for table in ("read_audit", "erasures", "erased_turns"):
            assert conn.execute("SELECT has_table_privilege(%s, 'INSERT')", [table]).fetchone() == (
                False,
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM conversation_embeddings")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET ROLE konstruct_eraser")
        erase = "SELECT * FROM konstruct_erase(NULL, 'U1', %s, 2, NULL, NULL, NULL, NULL)"
        for tenant_setting in (None, ""):
            with conn.transaction():
                if tenant_setting is not None:
                    conn.execute("SELECT set_config('app.current_tenant', '', true)")
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="no tenant"):
                    conn.execute(erase, [b"x" * 32])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="no tenant"):
            conn.execute("SELECT * FROM konstruct_expire(10)")
        with conn.transaction():
            conn.execute("SELECT set_config('app.current_tenant', %s, true)", [str(tenant.id)])
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="an agent, a user"):
                conn.execute(
                    "SELECT * FROM konstruct_erase(NULL, NULL, %s, 2, NULL, NULL, NULL, NULL)",
                    [b"x" * 32],
                )
        with conn.transaction():
            conn.execute("SELECT set_config('app.current_tenant', %s, true)", [str(tenant.id)])
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="32 bytes"):
                conn.execute(erase, [b"short"])
    assert len(memory.tenant(tenant.id).history(AGENT, "U1")) == 1


def test_a_retry_of_an_erased_turn_is_refused_and_stores_nothing(api: Api) -> None:
    client = api.client
    tenant_id, writer = api.new_tenant()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    remember(client, writer, said("U1", "please forget me", id=first))
    eraser = api.key_headers(tenant_id, scopes=["erase"])
    assert client.post("/v1/erasures", json={"user_id": "U1"}, headers=eraser).status_code == 201
    for batch in (
        [said("U1", "please forget me", id=first)],
        [said("U1", "new", id=second), said("U1", "please forget me", id=first)],
    ):
        retry = client.post("/v1/turns", json={"turns": batch}, headers=writer)
        assert retry.status_code == 409, retry.text
        assert "erased on request" in retry.json()["error"]["message"]
    history = client.get("/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=writer)
    assert history.json()["turns"] == [], "neither the erased turn nor its batch came back"


WRITERS = 3


@pytest.fixture
def racing_tenant(database: DatabaseUnderTest) -> Iterator[TenantMemory]:
    """A tenant on a library of its own whose pool holds a connection for each writer and the
    eraser from the start: the race under test is the erasure's with the inserts, not the threads'
    with the pool's growth, which opens one connection at a time (slow on a loaded machine)."""
    settings = settings_over(database, pool_min_size=WRITERS + 1, pool_timeout=10)
    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
        yield memory.tenant(memory.create_tenant("t-race-" + uuid.uuid4().hex[:6]).id)


def test_an_erasure_racing_inserts_leaves_whole_batches(racing_tenant: TenantMemory) -> None:
    tenant = racing_tenant
    batches = [[uuid.uuid4() for _ in range(5)] for _ in range(60)]
    failures: list[BaseException] = []

    def write(share: list[list[uuid.UUID]]) -> None:
        try:
            for ids in share:
                tenant.remember([said("U1", f"turn {i}", id=i) for i in ids])
        except BaseException as exc:
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(batches[i::WRITERS],)) for i in range(WRITERS)]
    for thread in writers:
        thread.start()
    entries = []
    while any(thread.is_alive() for thread in writers):
        entries.append(tenant.erase(user_id="U1"))
    for thread in writers:
        thread.join()
    assert not failures, failures
    stored = {turn.id for turn in tenant.history(AGENT, "U1", limit=1000)}
    erased_count = 0
    for ids in batches:
        present = [i in stored for i in ids]
        assert all(present) or not any(present), "a batch is whole or erased whole"
        erased_count += 0 if all(present) else len(ids)
    assert sum(entry.turns_erased for entry in entries) == erased_count
    # Every erased id is refused from now on.
    gone = next((ids for ids in batches if ids[0] not in stored), None)
    if gone is not None:
        with pytest.raises(Conflict, match="erased on request"):
            tenant.remember([said("U1", "turn", id=gone[0])])


def test_vacuum_reclaims_the_erased_rows(
    memory: Memory, tenant: TenantMemory, database: DatabaseUnderTest
) -> None:
    tenant.remember([said("U1", f"soon gone {i}") for i in range(40)])
    with psycopg.connect(database.superuser_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        dead = "SELECT dead_tuple_count FROM pgstattuple('conversation_embeddings')"
        assert memory.resources.vacuum is not None
        memory.resources.vacuum.wait()
        assert tenant.erase(user_id="U1").turns_erased == 40
        memory.resources.vacuum.wait()  # the erasure asked for one in the background
        assert memory.resources.vacuum.throttle.cost_delay_ms > 0  # the default throttles
        memory.vacuum()
        row = conn.execute(dead).fetchone()
        assert row == (0,)
