"""The engine's one check of a request against its principal: scopes and bindings."""

from __future__ import annotations

import uuid

import pytest

from konstruct_memory.auth.principal import ADMINISTRATOR, Principal
from konstruct_memory.engine.access import authorize
from konstruct_memory.errors import Forbidden, InvalidInput
from konstruct_memory.operations import (
    BY_NAME,
    CreateTenantRequest,
    RecallAcrossUsersRequest,
    RecallRequest,
    RememberRequest,
)

TENANT, AGENT, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def key(*scopes: str, agent: uuid.UUID | None = None, user: str | None = None) -> Principal:
    return Principal(TENANT, uuid.uuid4(), frozenset(scopes), agent, user)  # type: ignore[arg-type]


def remember(*pairs: tuple[uuid.UUID, str]) -> RememberRequest:
    return RememberRequest(
        turns=[{"agent_id": a, "user_id": u, "role": "user", "content": "x"} for a, u in pairs]
    )


def recall(agent: uuid.UUID = AGENT, user: str = "U1") -> RecallRequest:
    return RecallRequest(agent_id=agent, user_id=user, query="q")


def test_scopes() -> None:
    authorize(key("read"), BY_NAME["recall"], recall())
    with pytest.raises(Forbidden, match="'write' scope"):
        authorize(key("read"), BY_NAME["remember"], remember((AGENT, "U1")))
    with pytest.raises(Forbidden, match="'read' scope"):
        authorize(key("write"), BY_NAME["recall"], recall())


def test_bindings_name_the_field_and_the_binding() -> None:
    bound = key("read", "write", agent=AGENT, user="U1")
    authorize(bound, BY_NAME["recall"], recall())
    with pytest.raises(Forbidden, match=f"agent_id: this key is bound to agent {AGENT}"):
        authorize(bound, BY_NAME["recall"], recall(agent=OTHER))
    with pytest.raises(Forbidden, match="user_id: this key is bound to user 'U1'"):
        authorize(bound, BY_NAME["recall"], recall(user="U2"))
    with pytest.raises(Forbidden, match=r"turns\[1\]\.user_id"):
        authorize(bound, BY_NAME["remember"], remember((AGENT, "U1"), (AGENT, "U2")))
    across = RecallAcrossUsersRequest(agent_id=AGENT, query="q")
    with pytest.raises(Forbidden, match="across users"):
        authorize(bound, BY_NAME["recall_across_users"], across)
    authorize(key("read", agent=AGENT), BY_NAME["recall_across_users"], across)


def test_administration_needs_the_admin_token_and_tenant_work_a_key() -> None:
    create = CreateTenantRequest(name="acme")
    authorize(ADMINISTRATOR, BY_NAME["create_tenant"], create)
    with pytest.raises(Forbidden, match="admin token"):
        authorize(Principal.owner(TENANT), BY_NAME["create_tenant"], create)
    with pytest.raises(Forbidden, match="tenant API key"):
        authorize(ADMINISTRATOR, BY_NAME["recall"], recall())


def test_a_bound_key_may_leave_its_agent_and_user_out() -> None:
    bound = key("read", "write", agent=AGENT, user="U1")
    filled = authorize(bound, BY_NAME["recall"], RecallRequest(query="q"))
    assert (filled.agent_id, filled.user_id) == (AGENT, "U1")
    batch = RememberRequest(turns=[{"role": "user", "content": "x"}])
    turn = authorize(bound, BY_NAME["remember"], batch).turns[0]
    assert (turn.agent_id, turn.user_id) == (AGENT, "U1")
    agent_only = key("read", agent=AGENT)
    with pytest.raises(InvalidInput, match="user_id: is required"):
        authorize(agent_only, BY_NAME["recall"], RecallRequest(query="q"))
    with pytest.raises(InvalidInput, match="agent_id: is required"):
        authorize(key("read"), BY_NAME["recall"], RecallRequest(user_id="U1", query="q"))
