"""The Python client against the real app served by uvicorn: same names, same errors."""

from __future__ import annotations

import uuid

import pytest

from konstruct_memory.client import AdminClient, Client
from konstruct_memory.errors import Conflict, InvalidInput, NotFound, Unauthorized, Unavailable
from tests.conftest import ADMIN_TOKEN

AGENT = uuid.UUID("44444444-4444-4444-8444-444444444444")


def test_client_round_trip(base_url: str) -> None:
    with AdminClient(base_url, ADMIN_TOKEN) as admin:
        created = admin.create_tenant("client-co")
        key = created.api_key
        assert created.id in {t.id for t in admin.list_tenants()}
        spare = admin.create_api_key(created.id)
    with Client(base_url, key) as memory:
        receipts = memory.remember(
            [
                {"agent_id": AGENT, "user_id": "U1", "role": "user", "content": "I love sailing"},
                {"agent_id": AGENT, "user_id": "U1", "role": "assistant", "content": "Where?"},
            ]
        )
        assert len(receipts) == 2
        again = memory.remember_one(
            {
                "id": receipts[0].id,
                "agent_id": AGENT,
                "user_id": "U1",
                "role": "user",
                "content": "I love sailing",
            }
        )
        assert again == receipts[0]
        hits = memory.recall(AGENT, "U1", "sailing hobby", k=1)
        assert hits[0].id == receipts[0].id and hits[0].content == "I love sailing"
        history = memory.history(AGENT, "U1")
        assert [t.id for t in history] == [r.id for r in receipts]
        context = memory.context(AGENT, "U1", "sailing", recent=1, k=1)
        assert context.recent[0].content == "Where?" and context.tokens > 0

        with pytest.raises(InvalidInput) as invalid:
            memory.remember([{"agent_id": AGENT, "user_id": "U1", "role": "bot", "content": "x"}])
        assert invalid.value.field == "turns[0].role"
        with pytest.raises(Conflict):
            memory.remember_one(
                {
                    "id": receipts[0].id,
                    "agent_id": AGENT,
                    "user_id": "U1",
                    "role": "user",
                    "content": "changed",
                }
            )
        with pytest.raises(NotFound):
            memory.history(AGENT, "U1", before=uuid.uuid4())
    with AdminClient(base_url, ADMIN_TOKEN) as admin:
        admin.revoke_api_key(spare.id)
        with pytest.raises(NotFound):
            admin.revoke_api_key(uuid.uuid4())
    with Client(base_url, spare.api_key) as revoked, pytest.raises(Unauthorized):
        revoked.history(AGENT, "U1")
    with AdminClient(base_url, "wrong") as intruder, pytest.raises(Unauthorized):
        intruder.list_tenants()


def test_unreachable_service_is_unavailable() -> None:
    with Client("http://127.0.0.1:9", "km_x", timeout=2) as memory, pytest.raises(Unavailable):
        memory.history(AGENT, "U1")
