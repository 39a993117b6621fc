"""The consistency token on every face: a write answers with its position (the
``Konstruct-Memory-Position`` header, the library's ``position``), the clients and the library
keep the newest and hand it with every later request to the engine, and a malformed one is
refused naming the header. Where the engine then reads is tested on a real standby
(tests/integration/test_replicas.py)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi.testclient import TestClient

from konstruct_memory import consistency
from konstruct_memory.errors import InvalidInput
from tests.unit.faces import (
    API_KEY,
    WRITTEN_AT,
    RecordingEngine,
    app_over,
    async_http_clients,
    http_clients,
    library,
)

AGENT = uuid.UUID("20000000-0000-4000-8000-000000000002")
TURN = {"agent_id": AGENT, "user_id": "U1", "role": "user", "content": "hello"}


def test_positions_read_write_and_compare_as_postgresql_writes_them() -> None:
    assert consistency.position_text(WRITTEN_AT) == "1/6B374800"
    assert consistency.parse_position("1/6B374800") == WRITTEN_AT
    assert consistency.parse_position(" 1/6b374800 ") == WRITTEN_AT
    assert consistency.parse_position(None) is None and consistency.parse_position("") is None
    for bad in ("16", "x/1", "1/2/3", "123456789/0", "-1/0"):
        with pytest.raises(InvalidInput) as refused:
            consistency.parse_position(bad)
        assert refused.value.field == consistency.HEADER
    assert consistency.newest("0/FF", "1/0") == "1/0"
    assert consistency.newest("1/0", "0/FF") == "1/0", "never backwards"
    assert consistency.newest(None, "0/1") == "0/1" and consistency.newest("0/1", None) == "0/1"
    assert consistency.newest("0/1", "garbage") == "0/1"


def test_the_library_carries_its_own_writes_and_what_it_observes() -> None:
    engine = RecordingEngine()
    _, tenant = library(engine)
    tenant.recall(AGENT, "U1", "anything")
    assert engine.seen[-1] is None and tenant.position is None
    tenant.remember([TURN])
    assert tenant.position == consistency.position_text(WRITTEN_AT + 2)
    tenant.recall(AGENT, "U1", "anything")
    # Its own writes this process waits for by itself, per (agent, user) written.
    assert engine.seen[-1] is None
    tenant.observe("FF/0")  # written through another process
    tenant.history(AGENT, "U1")
    assert engine.seen[-1] == 0xFF << 32 and tenant.position == "FF/0"
    with pytest.raises(InvalidInput):
        tenant.observe("yesterday")


def test_both_clients_keep_the_newest_position_and_send_it_on() -> None:
    engine = RecordingEngine()
    with http_clients(engine) as (client, _):
        client.recall(AGENT, "U1", "anything")
        assert engine.seen[-1] is None and client.position is None
        client.remember([TURN])
        assert client.position == consistency.position_text(WRITTEN_AT + 2)
        client.history(AGENT, "U1")
        client.context(AGENT, "U1", "anything")
        assert engine.seen[-2:] == [WRITTEN_AT + 2] * 2

    async def asynchronously() -> list[int | None]:
        async with async_http_clients(engine) as (client, _):
            client.position = "0/10"  # handed over from elsewhere
            await client.recall(AGENT, "U1", "anything")
            await client.erase(agent_id=AGENT, user_id="U1")
            await client.recall(AGENT, "U1", "anything")
            return engine.seen[-3:]

    written = len(engine.requests) + 2  # the erasure's position
    assert asyncio.run(asynchronously()) == [0x10, 0x10, WRITTEN_AT + written]


def test_http_answers_writes_with_the_header_and_refuses_a_malformed_one() -> None:
    engine = RecordingEngine()
    http = TestClient(app_over(engine))  # not entered: the lifespan would open a database
    key = {"Authorization": f"Bearer {API_KEY}"}
    body = {"turns": [{**TURN, "agent_id": str(AGENT)}]}
    stored = http.post("/v1/turns", json=body, headers=key)
    assert stored.status_code == 201
    assert stored.headers[consistency.HEADER] == consistency.position_text(WRITTEN_AT + 1)
    read = http.get(
        "/v1/history",
        params={"agent_id": str(AGENT), "user_id": "U1"},
        headers={**key, consistency.HEADER: stored.headers[consistency.HEADER]},
    )
    assert read.status_code == 200 and consistency.HEADER not in read.headers
    assert engine.seen[-1] == WRITTEN_AT + 1
    refused = http.get(
        "/v1/history",
        params={"agent_id": str(AGENT), "user_id": "U1"},
        headers={**key, consistency.HEADER: "last tuesday"},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith(f"{consistency.HEADER}: ")
