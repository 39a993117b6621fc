"""Newest first: ``order=desc`` and a ``before`` cursor on the erasure ledger and the read audit
trail, through the library, HTTP (tenant and admin routes) and the client; an unknown cursor is
a 422 naming the field."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from konstruct_memory.client import Client
from konstruct_memory.errors import InvalidInput
from konstruct_memory.library import Memory, TenantMemory
from tests.api import Api, serving

ADMIN = "newest-first-admin-token-of-forty-chars!"
AGENT = uuid.uuid4()
USERS = [*(f"U{n}" for n in range(5)), "stays"]


@pytest.fixture(scope="module")
def api(memory: Memory) -> Iterator[Api]:
    with serving(memory, ADMIN) as api:
        yield api


def a_ledger_of_five(memory: Memory, tenant_id: str) -> TenantMemory:
    """Five erasures, and five audited reads of a user who stays (an erasure takes its
    subject's audit rows with it)."""
    tenant = memory.tenant(tenant_id)
    memory.update_tenant(tenant_id, audit_reads=True)
    said = [{"agent_id": AGENT, "user_id": u, "role": "user", "content": "hi"} for u in USERS]
    tenant.remember(said)
    for user in USERS[:5]:
        tenant.history(AGENT, "stays")
        tenant.erase(user_id=user)
    return tenant


def test_pages_newest_first_through_the_library(api: Api, memory: Memory) -> None:
    tenant_id, _ = api.new_tenant()
    tenant = a_ledger_of_five(memory, tenant_id)
    oldest_first = tenant.list_erasures()
    assert len(oldest_first) == 5
    newest = tenant.list_erasures(order="desc", limit=2)
    assert [e.id for e in newest] == [e.id for e in reversed(oldest_first)][:2]
    page = tenant.list_erasures(order="desc", limit=2, before=newest[-1].id)
    assert [e.id for e in page] == [e.id for e in reversed(oldest_first)][2:4]
    assert tenant.list_erasures(before=oldest_first[0].id) == []

    reads = tenant.list_audit(agent_id=AGENT)
    assert len(reads) == 5
    latest = tenant.list_audit(agent_id=AGENT, order="desc", limit=3)
    assert [r.id for r in latest] == [r.id for r in reversed(reads)][:3]
    rest = tenant.list_audit(agent_id=AGENT, order="desc", before=latest[-1].id)
    assert [r.id for r in rest] == [r.id for r in reversed(reads)][3:]

    with pytest.raises(InvalidInput) as unknown:
        tenant.list_erasures(order="desc", before=uuid.uuid4())
    assert unknown.value.field == "before"


def test_pages_newest_first_over_http_and_the_client(
    api: Api, memory: Memory, base_url: str
) -> None:
    tenant_id, _ = api.new_tenant()
    tenant = a_ledger_of_five(memory, tenant_id)
    everything = [str(e.id) for e in tenant.list_erasures()]
    auditor = api.key_headers(tenant_id, scopes=["erase", "audit"])

    newest = api.client.get("/v1/erasures", params={"order": "desc", "limit": 2}, headers=auditor)
    assert newest.status_code == 200, newest.text
    ids = [e["id"] for e in newest.json()["erasures"]]
    assert ids == everything[::-1][:2]
    admin = {"Authorization": f"Bearer {ADMIN}"}
    page = api.client.get(
        f"/v1/tenants/{tenant_id}/erasures",
        params={"order": "desc", "before": ids[-1]},
        headers=admin,
    )
    assert [e["id"] for e in page.json()["erasures"]] == everything[::-1][2:]

    trail = api.client.get("/v1/audit", params={"order": "desc", "limit": 1}, headers=auditor)
    assert trail.status_code == 200, trail.text
    [latest] = trail.json()["entries"]
    assert latest["id"] == max(r.id for r in tenant.list_audit())

    bad = api.client.get("/v1/erasures", params={"order": "newest"}, headers=auditor)
    assert bad.status_code == 422 and "order" in bad.text
    unknown = api.client.get("/v1/audit", params={"before": 10**12}, headers=auditor)
    assert unknown.status_code == 422 and "before" in unknown.text

    secret = auditor["Authorization"].removeprefix("Bearer ")
    with Client(base_url, api_key=secret) as client:
        assert [str(e.id) for e in client.list_erasures(order="desc", limit=2)] == ids
