"""The operations contract validates every field once, naming it, for every face."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from konstruct_memory.errors import InvalidInput
from konstruct_memory.operations import (
    ContextRequest,
    CreateApiKeyRequest,
    HistoryRequest,
    RecallRequest,
    RememberRequest,
    build,
)
from konstruct_memory.operations.fields import MAX_METADATA_DEPTH

AGENT = "3f2b8c1e-7d4a-4e0b-9c61-2a5f0d9e8b17"


def turn(**overrides: Any) -> dict[str, Any]:
    return {"agent_id": AGENT, "user_id": "U1", "role": "user", "content": "hello"} | overrides


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("overrides", "field", "problem"),
    [
        ({"role": "system"}, "turns[0].role", "'user' or 'assistant'"),
        ({"content": " \n"}, "turns[0].content", "empty"),
        ({"content": 5}, "turns[0].content", "string"),
        ({"agent_id": "nope"}, "turns[0].agent_id", "UUID"),
        ({"occurred_at": 1767225600}, "turns[0].occurred_at", "not a number"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "turns[0].occurred_at", "offset"),
        ({"metadata": nested(MAX_METADATA_DEPTH + 1)}, "turns[0].metadata", "deeper"),
        ({"embedding": [1e300] * 384}, None, None),  # large but finite: accepted
        ({"embedding": [math.inf] + [0.1] * 383}, "turns[0].embedding", "finite"),
        ({"embedding": [True] * 384}, "turns[0].embedding", "numbers"),
        ({"colour": "red"}, "turns[0].colour", "unknown field"),
    ],
)
def test_turn_fields(overrides: dict[str, Any], field: str | None, problem: str | None) -> None:
    if field is None:
        build(RememberRequest, turns=[turn(**overrides)])
        return
    with pytest.raises(InvalidInput) as caught:
        build(RememberRequest, turns=[turn(**overrides)])
    assert caught.value.field == field
    assert problem is not None and problem in caught.value.problem
    assert "hello" not in str(caught.value), "errors never echo content"


def test_a_missing_field_is_named() -> None:
    with pytest.raises(InvalidInput) as caught:
        build(RecallRequest, agent_id=AGENT, user_id="U1")
    assert str(caught.value) == "query: is required"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"k": True}, "k"),  # JSON true is not 1
        ({"k": "5"}, "k"),
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"roles": ["user", "bot"]}, "roles[1]"),
        ({"roles": "user"}, "roles"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"tenant_id": AGENT}, "tenant_id"),
    ],
)
def test_recall_fields(overrides: dict[str, Any], field: str) -> None:
    arguments = {"agent_id": AGENT, "user_id": "U1", "query": "q"} | overrides
    with pytest.raises(InvalidInput) as caught:
        build(RecallRequest, **arguments)
    assert caught.value.field == field


def test_values_come_out_in_their_stored_types() -> None:
    request = build(
        RecallRequest,
        agent_id=AGENT,
        user_id="U1",
        query="q",
        since="2026-01-01T00:00:00Z",
        roles=["user", "assistant", "user"],
    )
    assert str(request.agent_id) == AGENT
    assert request.since == datetime(2026, 1, 1, tzinfo=UTC)
    assert request.roles == ["assistant", "user"]
    assert build(RememberRequest, turns=[turn()]).turns[0].metadata == {}


def test_limits_of_history_and_context() -> None:
    with pytest.raises(InvalidInput, match="limit: must be from 1 to 1000"):
        build(HistoryRequest, agent_id=AGENT, user_id="U1", limit=1001)
    assert build(ContextRequest, agent_id=AGENT, user_id="U1", query="q", recent=0, k=0).k == 0
    with pytest.raises(InvalidInput, match="max_tokens"):
        build(ContextRequest, agent_id=AGENT, user_id="U1", query="q", max_tokens=0)


def test_key_scopes() -> None:
    key = build(CreateApiKeyRequest, tenant_id=AGENT)
    assert key.scopes == ["read", "write"] and key.agent_id is None
    assert build(CreateApiKeyRequest, tenant_id=AGENT, scopes=["erase", "read"]).scopes == [
        "read",
        "erase",
    ]
    for scopes in ([], ["admin"], "read"):
        with pytest.raises(InvalidInput) as caught:
            build(CreateApiKeyRequest, tenant_id=AGENT, scopes=scopes)
        assert caught.value.field == "scopes"
