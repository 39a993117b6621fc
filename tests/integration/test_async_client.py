"""The asyncio clients against the real app served by uvicorn: ``AsyncAdminClient`` with the
admin token, ``AsyncClient`` with the keys it makes; the same answers and errors as the
blocking clients."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from konstruct_memory.client import AsyncAdminClient, AsyncClient
from konstruct_memory.errors import InvalidInput, NotFound, Unauthorized, Unavailable
from tests.conftest import ADMIN_TOKEN

AGENT = uuid.UUID("55555555-5555-4555-8555-555555555555")


def test_async_administration_round_trip(base_url: str) -> None:
    asyncio.run(administer(base_url))


async def administer(base_url: str) -> None:
    async with AsyncAdminClient(base_url, ADMIN_TOKEN) as admin:
        created = await admin.create_tenant("async-admin-co")
        assert created.id in {t.id for t in await admin.list_tenants()}
        policy = await admin.update_tenant(created.id, retention_days=30, audit_reads=True)
        assert (policy.retention_days, policy.audit_reads) == (30, True)
        bound = await admin.create_api_key(
            created.id, name="bee-bot", agent_id=AGENT, user_id="U1", scopes=["read", "write"]
        )
        assert (bound.agent_id, bound.user_id, bound.scopes) == (AGENT, "U1", ["read", "write"])
        keys = await admin.list_api_keys(created.id)
        assert {k.id for k in keys} == {created.api_key_id, bound.id}
        with pytest.raises(InvalidInput) as invalid:
            await admin.create_api_key(created.id, scopes=["root"])
        assert invalid.value.field == "scopes"

    async with AsyncClient(base_url, bound.api_key) as memory:
        stored = await memory.remember(
            [
                {"role": "user", "content": "I keep bees on the roof"},
                {"role": "assistant", "content": "How many hives?"},
            ]
        )
        [hit] = await memory.recall(query="bees roof", k=1)
        assert hit.id == stored[0].id

    async with AsyncAdminClient(base_url, ADMIN_TOKEN) as admin:
        trail = await admin.list_audit_for_tenant(created.id, agent_id=AGENT, user_id="U1")
        assert [(e.operation, e.turn_ids) for e in trail] == [("recall", [hit.id])]
        erasure = await admin.erase_for_tenant(created.id, agent_id=AGENT, user_id="U1")
        assert erasure.kind == "agent_user" and erasure.turns_erased == len(stored)
        erasures = await admin.list_erasures_for_tenant(created.id)
        assert [e.id for e in erasures] == [erasure.id]
        await admin.revoke_api_key(bound.id)
        with pytest.raises(NotFound):
            await admin.revoke_api_key(uuid.uuid4())
        with pytest.raises(NotFound):
            await admin.list_api_keys(uuid.uuid4())

    async with AsyncClient(base_url, bound.api_key) as revoked:
        with pytest.raises(Unauthorized):
            await revoked.whoami()
    async with AsyncAdminClient(base_url, "wrong") as intruder:
        with pytest.raises(Unauthorized):
            await intruder.list_tenants()


def test_an_unreachable_service_is_unavailable_to_the_async_admin_client() -> None:
    async def list_tenants() -> None:
        async with AsyncAdminClient("http://127.0.0.1:9", ADMIN_TOKEN, timeout=2) as admin:
            await admin.list_tenants()

    with pytest.raises(Unavailable, match="unreachable"):
        asyncio.run(list_tenants())
