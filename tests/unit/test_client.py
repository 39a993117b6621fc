"""The light client: what it imports, how it speaks HTTP, how it reports errors."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import httpx
import pytest

from konstruct_memory.client import AdminClient, Client
from konstruct_memory.errors import Conflict, Forbidden, InvalidInput, Unavailable

AGENT = uuid.UUID("3f2b8c1e-7d4a-4e0b-9c61-2a5f0d9e8b17")
HEAVY = (
    "psycopg", "psycopg_pool", "numpy", "alembic", "sqlalchemy", "fastapi", "starlette",
    "uvicorn", "typer", "onnxruntime", "torch", "tokenizers", "pgvector",
)  # fmt: skip


def test_importing_the_client_loads_no_server_module() -> None:
    probe = (
        "import sys, json, konstruct_memory.client; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(loaded) == []


def answer(status: int, body: object) -> httpx.MockTransport:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    transport = httpx.MockTransport(handle)
    transport.seen = seen  # type: ignore[attr-defined]
    return transport


def test_history_goes_in_the_query_string_with_the_key() -> None:
    transport = answer(200, {"turns": []})
    with Client("http://memory", "km_x", transport=transport) as client:
        assert client.history(AGENT, "U1", limit=5) == []
    [request] = transport.seen  # type: ignore[attr-defined]
    assert request.method == "GET" and request.url.path == "/v1/history"
    assert dict(request.url.params) == {"agent_id": str(AGENT), "user_id": "U1", "limit": "5"}
    assert request.headers["Authorization"] == "Bearer km_x"


def test_path_fields_go_in_the_path() -> None:
    transport = answer(204, None)
    key_id = uuid.uuid4()
    with AdminClient("http://memory", "admin", transport=transport) as admin:
        admin.revoke_api_key(key_id)
    [request] = transport.seen  # type: ignore[attr-defined]
    assert request.method == "DELETE" and request.url.path == f"/v1/api-keys/{key_id}"


def test_invalid_input_is_refused_before_sending() -> None:
    transport = answer(200, {"hits": []})
    with (
        Client("http://memory", "km_x", transport=transport) as client,
        pytest.raises(InvalidInput) as caught,
    ):
        client.recall(AGENT, "U1", "q", k=0)
    assert caught.value.field == "k" and transport.seen == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (409, "conflict", Conflict),
        (403, "forbidden", Forbidden),
        (422, "invalid_input", InvalidInput),
    ],
)
def test_api_errors_become_the_library_errors(
    status: int, code: str, error: type[Exception]
) -> None:
    transport = answer(status, {"error": {"code": code, "message": "turns[0].id: says why"}})
    with Client("http://memory", "km_x", transport=transport) as client, pytest.raises(error):
        client.recall(AGENT, "U1", "q")


def test_an_unreachable_service_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    refusing = httpx.MockTransport(refuse)
    with (
        Client("http://memory", "km_x", transport=refusing) as client,
        pytest.raises(Unavailable, match="unreachable"),
    ):
        client.history(AGENT, "U1")
