"""The HTTP API: every route's success and error paths, and isolation from another tenant's key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from konstruct_memory.library import Memory
from konstruct_memory.operations import Tenant, TenantCreated
from konstruct_memory.serving import create_app

ADMIN = {"Authorization": "Bearer admin-secret"}
AGENT = "33333333-3333-4333-8333-333333333333"


@pytest.fixture(scope="module")
def client(memory: Memory) -> Iterator[TestClient]:
    app = create_app(memory.settings, memory=memory, admin_token="admin-secret")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def new_tenant(client: TestClient, name: str = "acme") -> tuple[str, dict[str, str]]:
    response = client.post("/v1/tenants", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == set(TenantCreated.model_fields)
    assert {"id", "name", "created_at", "api_key_id", "api_key"} <= set(body)
    return body["id"], {"Authorization": f"Bearer {body['api_key']}"}


def turn(**overrides: Any) -> dict[str, Any]:
    return {"agent_id": AGENT, "user_id": "U1", "role": "user", "content": "hello"} | overrides


def error_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return dict(body["error"])


def test_tenant_administration(client: TestClient) -> None:
    tenant_id, _ = new_tenant(client, "admin-test")
    listed = client.get("/v1/tenants", headers=ADMIN).json()["tenants"]
    assert any(t["id"] == tenant_id and t["name"] == "admin-test" for t in listed)
    assert set(listed[0]) == set(Tenant.model_fields) and "api_key" not in listed[0]
    key = client.post(f"/v1/tenants/{tenant_id}/api-keys", headers=ADMIN)
    assert key.status_code == 201 and {"id", "api_key"} <= set(key.json())
    assert key.json()["scopes"] == ["read", "write"] and key.json()["agent_id"] is None
    unknown = client.post(f"/v1/tenants/{uuid.uuid4()}/api-keys", headers=ADMIN)
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"
    assert client.post("/v1/tenants", json={"name": ""}, headers=ADMIN).status_code == 422
    assert client.delete(f"/v1/api-keys/{uuid.uuid4()}", headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/tenants"),
        ("GET", "/v1/tenants"),
        ("POST", f"/v1/tenants/{uuid.uuid4()}/api-keys"),
        ("DELETE", f"/v1/api-keys/{uuid.uuid4()}"),
    ],
)
def test_admin_routes_refuse_anything_but_the_admin_token(
    client: TestClient, method: str, path: str
) -> None:
    _, tenant_key = new_tenant(client)
    for headers in [
        {},
        {"Authorization": "Bearer wrong"},
        tenant_key,
        {"Authorization": "Basic x"},
    ]:
        response = client.request(method, path, headers=headers, json={"name": "x"})
        assert response.status_code == 401, (headers, response.text)
        assert error_of(response)["code"] == "unauthorized"


def test_remember_recall_history_context(client: TestClient) -> None:
    _, key = new_tenant(client)
    turn_id = str(uuid.uuid4())
    body = {
        "turns": [
            turn(
                id=turn_id,
                content="my cat Pixel loves tuna",
                occurred_at="2026-01-01T10:00:00+01:00",
                metadata={"ch": "C1"},
            ),
            turn(role="assistant", content="Noted!", conversation_id="T1"),
        ]
    }
    stored = client.post("/v1/turns", json=body, headers=key)
    assert stored.status_code == 201, stored.text
    refs = stored.json()["turns"]
    assert refs[0]["id"] == turn_id and {"id", "created_at"} <= set(refs[0])
    assert refs[0]["metadata"] == {"ch": "C1"} and refs[1]["conversation_id"] == "T1"
    again = client.post("/v1/turns", json={"turns": body["turns"][:1]}, headers=key)
    assert again.status_code == 201 and again.json()["turns"][0] == refs[0]
    clash = client.post(
        "/v1/turns", json={"turns": [turn(id=turn_id, content="other")]}, headers=key
    )
    assert clash.status_code == 409 and error_of(clash)["code"] == "conflict"

    hits = client.post(
        "/v1/recall",
        json={"agent_id": AGENT, "user_id": "U1", "query": "what does Pixel eat", "k": 1},
        headers=key,
    )
    assert hits.status_code == 200
    [hit] = hits.json()["hits"]
    assert hit["id"] == turn_id and set(hit) == {
        "id",
        "user_id",
        "role",
        "content",
        "occurred_at",
        "conversation_id",
        "score",
        "parts",
        "metadata",
    }
    assert 0 < hit["score"] <= 1
    assert set(hit["parts"]) == {
        "similarity",
        "vector",
        "keyword",
        "act",
        "neighbour",
        "month",
        "day",
        "correction",
        "corrected",
        "keyword_pruned",
        "keyword_window",
    }
    assert hit["parts"]["keyword_window"] is None  # every turn is searched now

    history = client.get("/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=key)
    assert [t["content"] for t in history.json()["turns"]] == ["my cat Pixel loves tuna", "Noted!"]
    page = client.get(
        "/v1/history",
        params={
            "agent_id": AGENT,
            "user_id": "U1",
            "limit": 1,
            "before": history.json()["turns"][1]["id"],
        },
        headers=key,
    )
    assert [t["id"] for t in page.json()["turns"]] == [turn_id]

    context = client.post(
        "/v1/context",
        json={"agent_id": AGENT, "user_id": "U1", "query": "Pixel food", "recent": 1, "k": 2},
        headers=key,
    )
    assert context.status_code == 200
    assert set(context.json()) == {"recent", "recalled", "text", "tokens", "messages"}
    assert "user: my cat Pixel loves tuna" in context.json()["text"]
    shown = context.json()["messages"]
    assert [m["section"] for m in shown] == ["recalled"] * (len(shown) - 1) + ["recent"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"turns": []}, "turns"),
        ({"turns": [turn(role="system")]}, "turns[0].role"),
        ({"turns": [turn(content="   ")]}, "turns[0].content"),
        ({"turns": [turn(content="a\u0000b")]}, "turns[0].content"),
        ({"turns": [turn(agent_id="nope")]}, "turns[0].agent_id"),
        ({"turns": [turn(occurred_at="2026-01-01T10:00:00")]}, "turns[0].occurred_at"),
        ({"turns": [turn(extra=1)]}, "turns[0].extra"),
        ({"turns": [turn(embedding=[1.0] * 3)]}, "turns[0].embedding"),
        ({"turns": [turn()] * 1001}, "turns"),
    ],
)
def test_invalid_turns_are_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    _, key = new_tenant(client)
    response = client.post("/v1/turns", json=body, headers=key)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid_input" and error["message"].startswith(field + ":")
    assert "hello" not in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"agent_id": AGENT, "user_id": "U1", "query": "x", "k": 0},
        {"agent_id": AGENT, "user_id": "U1", "query": "x", "k": 101},
        {"agent_id": AGENT, "user_id": "", "query": "x"},
        {"agent_id": AGENT, "user_id": "U1", "query": ""},
        {"agent_id": AGENT, "user_id": "U1", "query": "x", "roles": ["system"]},
        {"agent_id": AGENT, "user_id": "U1", "query": "x", "tenant_id": str(uuid.uuid4())},
    ],
)
def test_invalid_recall_is_422(client: TestClient, body: dict[str, Any]) -> None:
    _, key = new_tenant(client)
    response = client.post("/v1/recall", json=body, headers=key)
    assert response.status_code == 422 and error_of(response)["code"] == "invalid_input"


def test_each_reported_validation_gap_names_the_field_and_stores_nothing(
    client: TestClient,
) -> None:
    _, key = new_tenant(client)
    deep: dict[str, Any] = {}
    for _ in range(200):
        deep = {"a": deep}
    recall = {"agent_id": AGENT, "user_id": "U1", "query": "x"}
    backwards = {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/v1/turns", {"turns": [turn(), turn(metadata=deep)]}, "turns[1].metadata: "),
        ("/v1/turns", {"turns": [turn(), turn(occurred_at=1767225600)]}, "turns[1].occurred_at: "),
        ("/v1/recall", {**recall, "k": True}, "k: must be an integer"),
        ("/v1/recall", {**recall, **backwards}, "until: must be later than since"),
        ("/v1/recall", {"agent_id": AGENT, "user_id": "U1"}, "query: is required"),
    ]  # fmt: skip
    for path, body, message in cases:
        response = client.post(path, json=body, headers=key)
        assert response.status_code == 422 and error_of(response)["message"].startswith(message)
    broken = client.post(
        "/v1/recall",
        content=b'{"query": "x",\n "k": }',
        headers={**key, "Content-Type": "application/json"},
    )
    assert error_of(broken)["message"] == (
        "body: is not valid JSON: Expecting value at line 2, column 7"
    )
    history = client.get("/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=key)
    assert history.json()["turns"] == [], "a refused batch stores none of its turns"
    huge = [1e300] + [0.0] * 383
    stored = client.post("/v1/turns", json={"turns": [turn(embedding=huge)]}, headers=key)
    assert stored.status_code == 201, "a finite coordinate of 1e300 is a valid direction"


def test_another_tenants_key_reveals_nothing(client: TestClient) -> None:
    _, alice = new_tenant(client, "alice")
    _, mallory = new_tenant(client, "mallory")
    stored = client.post(
        "/v1/turns", json={"turns": [turn(content="alice secret")]}, headers=alice
    ).json()["turns"][0]
    query = {"agent_id": AGENT, "user_id": "U1", "query": "alice secret"}
    assert client.post("/v1/recall", json=query, headers=mallory).json() == {"hits": []}
    assert client.get(
        "/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=mallory
    ).json() == {"turns": []}
    context = client.post("/v1/context", json=query, headers=mallory).json()
    assert context == {"recent": [], "recalled": [], "text": "", "tokens": 0, "messages": []}
    guessed = client.get(
        "/v1/history",
        params={"agent_id": AGENT, "user_id": "U1", "before": stored["id"]},
        headers=mallory,
    )
    assert guessed.status_code == 404 and "alice" not in guessed.text
    # Re-using Alice's turn id is not a conflict for Mallory: ids are per tenant.
    mine = client.post(
        "/v1/turns", json={"turns": [turn(id=stored["id"], content="mallory")]}, headers=mallory
    )
    assert mine.status_code == 201
    alice_history = client.get(
        "/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=alice
    ).json()["turns"]
    assert [t["content"] for t in alice_history] == ["alice secret"]


def test_revoked_keys_are_refused(client: TestClient) -> None:
    tenant_id, first = new_tenant(client)
    second = client.post(f"/v1/tenants/{tenant_id}/api-keys", headers=ADMIN).json()
    second_key = {"Authorization": f"Bearer {second['api_key']}"}
    params = {"agent_id": AGENT, "user_id": "U1"}
    assert client.get("/v1/history", params=params, headers=second_key).status_code == 200
    assert client.delete(f"/v1/api-keys/{second['id']}", headers=ADMIN).status_code == 204
    refused = client.get("/v1/history", params=params, headers=second_key)
    assert refused.status_code == 401 and error_of(refused)["code"] == "unauthorized"
    assert client.get("/v1/history", params=params, headers=first).status_code == 200
    for headers in [{}, {"Authorization": "Bearer km_unknown"}, {"Authorization": "Bearer "}]:
        assert client.get("/v1/history", params=params, headers=headers).status_code == 401


def test_errors_limits_health_and_metrics(client: TestClient, memory: Memory) -> None:
    _, key = new_tenant(client)
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    big = client.post(
        "/v1/turns",
        content=b"x" * (memory.settings.max_request_bytes + 1),
        headers=key | {"Content-Type": "application/json"},
    )
    assert big.status_code == 413 and error_of(big)["code"] == "too_large"
    broken = client.post(
        "/v1/turns", content=b"{not json", headers=key | {"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert client.get("/healthz").json() == {"status": "ok"}
    client.get("/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=key)
    client.get("/docs")
    metrics = client.get("/metrics").text
    assert (
        'konstruct_memory_requests_total{method="GET",route="/v1/history",status="200"}' in metrics
    )
    assert 'route="/docs",status="200"' in metrics
    assert 'route="unmatched",status="404"' in metrics
    assert "konstruct_memory_request_seconds_bucket" in metrics
    assert "konstruct_memory_database_seconds_count" in metrics
    assert "konstruct_memory_embedding_seconds_count" in metrics
    assert "konstruct_memory_pool_size" in metrics


def test_openapi_and_docs(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert {"/v1/turns", "/v1/recall", "/v1/history", "/v1/context"} <= set(doc["paths"])
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        # A lone surrogate, written as a JSON escape: valid JSON, not storable text.
        b'{"turns": [{"agent_id": "' + AGENT.encode() + b'", "user_id": "U1", "role": "user", '
        b'"content": "hi", "metadata": {"a": "\\ud800"}}]}',
        b'{"turns": [{"agent_id": "' + AGENT.encode() + b'", "user_id": "U1", "role": "user", '
        b'"content": "\\ud800"}]}',
        b"\xff\xfe not utf-8",
        b"[" * 5000,
    ],
)
def test_unstorable_or_unparseable_bodies_are_422_not_500(client: TestClient, raw: bytes) -> None:
    _, key = new_tenant(client)
    response = client.post(
        "/v1/turns", content=raw, headers=key | {"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "invalid_input"


def test_unknown_query_parameters_are_refused(client: TestClient) -> None:
    _, key = new_tenant(client)
    params = {"agent_id": AGENT, "user_id": "U1", "limt": "5"}
    response = client.get("/v1/history", params=params, headers=key)
    assert response.status_code == 422 and error_of(response)["message"] == "limt: unknown field"
    listed = client.get("/v1/tenants", params={"page": "2"}, headers=ADMIN)
    assert listed.status_code == 422 and error_of(listed)["message"].startswith("page:")
