"""remember: validation names the field, retries are idempotent, batches are atomic."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from konstruct_memory.errors import Conflict, InvalidInput
from konstruct_memory.library import TenantMemory

AGENT = uuid.UUID("11111111-1111-4111-8111-111111111111")


def turn(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "agent_id": AGENT,
        "user_id": "U1",
        "role": "user",
        "content": "hello there",
    }
    return base | overrides


@pytest.mark.parametrize(
    ("overrides", "field", "problem"),
    [
        ({"role": "system"}, "turns[0].role", "'user' or 'assistant'"),
        ({"content": ""}, "turns[0].content", "empty"),
        ({"content": " \n\t "}, "turns[0].content", "whitespace"),
        ({"content": "x" * (32 * 1024 + 1)}, "turns[0].content", "limit is 32768"),
        ({"content": "é" * (16 * 1024 + 1)}, "turns[0].content", "bytes of UTF-8"),
        ({"content": "a\x00b"}, "turns[0].content", "NUL"),
        ({"content": "bad \ud800 surrogate"}, "turns[0].content", "not valid text"),
        ({"content": 42}, "turns[0].content", "must be a string"),
        ({"agent_id": "not-a-uuid"}, "turns[0].agent_id", "UUID"),
        ({"id": "123"}, "turns[0].id", "UUID"),
        ({"user_id": ""}, "turns[0].user_id", "empty"),
        ({"user_id": "u" * 257}, "turns[0].user_id", "limit is 256"),
        ({"conversation_id": " "}, "turns[0].conversation_id", "empty"),
        ({"occurred_at": "yesterday"}, "turns[0].occurred_at", "RFC 3339"),
        ({"occurred_at": datetime(2026, 1, 1)}, "turns[0].occurred_at", "offset"),
        ({"metadata": ["a"]}, "turns[0].metadata", "JSON object"),
        ({"metadata": {"a": {1, 2}}}, "turns[0].metadata", "JSON"),
        ({"metadata": {"a": "\x00"}}, "turns[0].metadata", "NUL"),
        ({"embedding": [0.1] * 383}, "turns[0].embedding", "384"),
        ({"embedding": [0.0] * 384}, "turns[0].embedding", "zeros"),
        ({"embedding": [math.nan] + [0.1] * 383}, "turns[0].embedding", "finite"),
        ({"embedding": "0.1,0.2"}, "turns[0].embedding", "numbers"),
        ({"colour": "red"}, "turns[0].colour", "unknown field"),
    ],
)
def test_invalid_turns_name_the_field(
    tenant: TenantMemory, overrides: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        tenant.remember([turn(**overrides)])
    assert caught.value.field == field
    assert problem in caught.value.problem
    assert "hello" not in str(caught.value), "errors never echo content"
    assert tenant.history(AGENT, "U1") == []


def test_missing_field_and_bad_batches(tenant: TenantMemory) -> None:
    with pytest.raises(InvalidInput, match="turns"):
        tenant.remember([])
    with pytest.raises(InvalidInput, match=r"turns\[1\]"):
        tenant.remember([turn(), {"agent_id": AGENT, "user_id": "U1", "role": "user"}])
    with pytest.raises(InvalidInput, match="1 to 1000"):
        tenant.remember([turn()] * 1001)
    assert tenant.history(AGENT, "U1") == []


def test_a_batch_is_stored_in_order_and_atomically(tenant: TenantMemory) -> None:
    stored = tenant.remember([turn(content=f"message {i}") for i in range(5)])
    assert [t.content for t in tenant.history(AGENT, "U1")] == [f"message {i}" for i in range(5)]
    assert len({t.created_at for t in stored}) == 1, "one transaction, one created_at"
    with pytest.raises(InvalidInput, match=r"turns\[2\]\.role"):
        tenant.remember([turn(content="a"), turn(content="b"), turn(role="bot")])
    assert len(tenant.history(AGENT, "U1")) == 5


def test_retry_with_the_same_id_returns_the_original(tenant: TenantMemory) -> None:
    turn_id = uuid.uuid4()
    first = tenant.remember_one(turn(id=turn_id, metadata={"channel": "C1"}))
    again = tenant.remember_one(turn(id=str(turn_id), metadata={"channel": "C1"}))
    assert again == first
    batch = tenant.remember([turn(id=turn_id, metadata={"channel": "C1"}), turn(content="new")])
    assert batch[0] == first
    assert [t.content for t in tenant.history(AGENT, "U1")] == ["hello there", "new"]


def test_same_id_twice_in_one_batch_is_stored_once(tenant: TenantMemory) -> None:
    turn_id = uuid.uuid4()
    stored = tenant.remember([turn(id=turn_id), turn(id=turn_id)])
    assert stored[0] == stored[1]
    assert len(tenant.history(AGENT, "U1")) == 1
    with pytest.raises(Conflict, match=r"turns\[1\]\.id"):
        tenant.remember([turn(id=turn_id), turn(id=turn_id, content="different")])


@pytest.mark.parametrize(
    "change",
    [
        {"content": "changed"},
        {"role": "assistant"},
        {"conversation_id": "T1"},
        {"metadata": {"x": 1}},
        {"occurred_at": datetime(2020, 1, 1, tzinfo=UTC)},
    ],
)
def test_same_id_with_other_fields_is_a_conflict_and_stores_nothing(
    tenant: TenantMemory, change: dict[str, Any]
) -> None:
    turn_id = uuid.uuid4()
    tenant.remember_one(turn(id=turn_id, occurred_at=datetime(2026, 1, 1, tzinfo=UTC)))
    with pytest.raises(Conflict, match="already stored with different fields"):
        tenant.remember([turn(content="innocent bystander"), turn(id=turn_id) | change])
    assert [t.content for t in tenant.history(AGENT, "U1")] == ["hello there"]


def test_the_same_id_for_another_user_or_agent_is_another_turn(tenant: TenantMemory) -> None:
    turn_id, other_agent = uuid.uuid4(), uuid.uuid4()
    first = tenant.remember_one(turn(id=turn_id, content="U1's"))
    second = tenant.remember_one(turn(id=turn_id, user_id="U2", content="U2's"))
    third = tenant.remember_one(turn(id=turn_id, agent_id=other_agent, content="the other's"))
    assert first.id == second.id == third.id
    assert [t.content for t in tenant.history(AGENT, "U1")] == ["U1's"]
    assert [t.content for t in tenant.history(AGENT, "U2")] == ["U2's"]
    assert [t.content for t in tenant.history(other_agent, "U1")] == ["the other's"]
    # Each is retried on its own: the same fields store nothing, other fields conflict.
    again = tenant.remember([turn(id=turn_id, user_id="U2", content="U2's")])
    assert again[0] == second
    assert [t.content for t in tenant.history(AGENT, "U2")] == ["U2's"]
    with pytest.raises(Conflict, match="already stored with different fields"):
        tenant.remember([turn(id=turn_id, user_id="U2", content="changed")])
    retried = [turn(id=turn_id, content="U1's"), turn(id=turn_id, user_id="U2", content="U2's")]
    assert tenant.remember(retried) == [first, second]


def test_the_same_id_in_another_tenant_is_another_turn(tenant: TenantMemory, memory: Any) -> None:
    other = memory.tenant(memory.create_tenant("other").id)
    turn_id = uuid.uuid4()
    mine = tenant.remember_one(turn(id=turn_id, content="mine"))
    theirs = other.remember_one(turn(id=turn_id, content="theirs"))
    assert mine.id == theirs.id and mine.content == "mine" and theirs.content == "theirs"


def test_occurred_at_orders_turns_and_defaults_to_now(tenant: TenantMemory) -> None:
    early = datetime(2024, 5, 1, 12, tzinfo=UTC)
    tenant.remember([turn(content="later, default time"), turn(content="early", occurred_at=early)])
    history = tenant.history(AGENT, "U1")
    assert [t.content for t in history] == ["early", "later, default time"]
    assert history[0].occurred_at == early
    assert history[1].occurred_at > early


def test_precomputed_embeddings_are_stored_as_given(tenant: TenantMemory) -> None:
    vector = [0.0] * 384
    vector[7] = 3.0  # not normalised on input; stored normalised
    tenant.remember([turn(content="imported from elsewhere", embedding=vector)])
    hits = tenant.recall(AGENT, "U1", "anything at all", k=1)
    assert [h.content for h in hits] == ["imported from elsewhere"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"metadata": {"note": "bad \ud800"}}, "turns[0].metadata"),
        ({"metadata": {"bad \udfff": 1}}, "turns[0].metadata"),
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "turns[0].occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:00-01:00"}, "turns[0].occurred_at"),
    ],
)
def test_values_the_database_cannot_round_trip_are_refused(
    tenant: TenantMemory, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        tenant.remember([turn(**overrides)])
    assert caught.value.field == field


def test_retry_compares_metadata_as_the_database_does(tenant: TenantMemory) -> None:
    turn_id = uuid.uuid4()
    first = tenant.remember_one(turn(id=turn_id, metadata={"n": 1e23, "x": [1.5, 2]}))
    assert tenant.remember_one(turn(id=turn_id, metadata={"n": 1e23, "x": [1.5, 2]})) == first
    with pytest.raises(Conflict):
        tenant.remember_one(turn(id=turn_id, metadata={"n": 1e22, "x": [1.5, 2]}))
