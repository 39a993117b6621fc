"""A turn id names one turn per (agent, user): a key bound to one user can neither take, nor
tombstone, nor probe the ids of another user, through the API or the LangGraph store; and the
ledger's subject hash differs between tenants yet older entries still replay."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from konstruct_memory.client import AdminClient, Client
from konstruct_memory.engine.erasure import ReplayReport, key_of, subject_hash, subject_hash_v1
from konstruct_memory.errors import Conflict
from konstruct_memory.integrations.langgraph import KonstructStore, item_id
from konstruct_memory.library import Memory
from konstruct_memory.operations.lifecycle import LedgerEntry
from tests.api import Api, serving
from tests.conftest import ADMIN_TOKEN, DatabaseUnderTest

AGENT = str(uuid.uuid4())
EVERY_SCOPE = ["read", "write", "erase"]


@pytest.fixture(scope="module")
def api(memory: Memory) -> Iterator[Api]:
    with serving(memory, "turn-id-admin") as api:
        yield api


def said(content: str, **more: Any) -> dict[str, Any]:
    return {"role": "user", "content": content, **more}


def post(api: Api, key: dict[str, str], *turns: dict[str, Any]) -> Any:
    return api.client.post("/v1/turns", json={"turns": list(turns)}, headers=key)


def keys_of(api: Api) -> tuple[str, dict[str, str], dict[str, str], dict[str, str]]:
    """A tenant, keys bound to its users U1 (the attacker, who may erase) and U2, and an
    unbound key."""
    tenant_id, unbound = api.new_tenant("scoped-ids")
    attacker = api.key_headers(tenant_id, agent_id=AGENT, user_id="U1", scopes=EVERY_SCOPE)
    victim = api.key_headers(tenant_id, agent_id=AGENT, user_id="U2", scopes=["read", "write"])
    return tenant_id, attacker, victim, unbound


def test_a_user_bound_key_cannot_squat_or_tombstone_another_users_id(api: Api) -> None:
    client = api.client
    _, attacker, victim, unbound = keys_of(api)
    squatted, erased = str(uuid.uuid4()), str(uuid.uuid4())  # ids U2's client will choose
    assert post(api, attacker, said("squat", id=squatted)).status_code == 201
    assert post(api, attacker, said("squat then erase", id=erased)).status_code == 201
    gone = client.post("/v1/erasures", json={"turn_ids": [erased]}, headers=attacker)
    assert gone.status_code == 201 and gone.json()["turns_erased"] == 1

    for turn_id in (squatted, erased):
        answer = post(api, victim, said(f"U2's own {turn_id}", id=turn_id))
        assert answer.status_code == 201, answer.text
        read = client.get(f"/v1/turns/{turn_id}", headers=victim)
        assert read.status_code == 200 and read.json()["content"] == f"U2's own {turn_id}"
        assert read.json()["user_id"] == "U2"
        retry = post(api, victim, said(f"U2's own {turn_id}", id=turn_id))
        assert retry.status_code == 201 and retry.json()["turns"] == answer.json()["turns"]
    history = client.get("/v1/history", headers=victim).json()["turns"]
    assert sorted(t["id"] for t in history) == sorted([squatted, erased])

    # The attacker's turn keeps its id in its own scope; a key over both users picks one.
    assert client.get(f"/v1/turns/{squatted}", headers=attacker).json()["content"] == "squat"
    both = client.get(f"/v1/turns/{squatted}", headers=unbound)
    assert both.status_code == 409 and "agent_id and user_id" in both.json()["error"]["message"]
    picked = client.get(
        f"/v1/turns/{squatted}", params={"agent_id": AGENT, "user_id": "U2"}, headers=unbound
    )
    assert picked.status_code == 200 and picked.json()["content"] == f"U2's own {squatted}"
    # The attacker's retry of its erased turn is still refused in its own scope.
    again = post(api, attacker, said("squat then erase", id=erased))
    assert again.status_code == 409 and "erased" in again.json()["error"]["message"]


def test_remember_answers_for_another_users_ids_as_for_a_fresh_one(api: Api) -> None:
    client = api.client
    tenant_id, attacker, victim, _ = keys_of(api)
    [stored] = post(api, victim, said("U2's turn")).json()["turns"]
    [erased] = post(api, victim, said("U2's erased turn")).json()["turns"]
    u2_eraser = api.key_headers(tenant_id, agent_id=AGENT, user_id="U2", scopes=EVERY_SCOPE)
    gone = client.post("/v1/erasures", json={"turn_ids": [erased["id"]]}, headers=u2_eraser)
    assert gone.json()["turns_erased"] == 1

    answers = {
        name: post(api, attacker, said("probe", id=turn_id))
        for name, turn_id in (
            ("stored", stored["id"]),
            ("erased", erased["id"]),
            ("fresh", str(uuid.uuid4())),
        )
    }
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "stored": 201,
        "erased": 201,
        "fresh": 201,
    }
    for answer in answers.values():
        [turn] = answer.json()["turns"]
        assert (turn["user_id"], turn["content"]) == ("U1", "probe")
    # U2's turn is untouched.
    assert client.get(f"/v1/turns/{stored['id']}", headers=victim).json()["content"] == "U2's turn"


def test_the_langgraph_store_of_a_user_survives_another_users_squat_and_erasure(
    base_url: str,
) -> None:
    with AdminClient(base_url, ADMIN_TOKEN) as admin:
        tenant = admin.create_tenant("langgraph-squat")
        agent = str(uuid.uuid4())
        store_key = admin.create_api_key(tenant.id, agent_id=agent, scopes=["read", "write"])
        attacker_key = admin.create_api_key(
            tenant.id, agent_id=agent, user_id="U1", scopes=EVERY_SCOPE
        )
    attacker = Client(base_url, attacker_key.api_key)
    erased_item = item_id(agent, ("U2",), "preferences")
    squatted_item = item_id(agent, ("U2",), "profile")
    attacker.remember([said("squat", id=erased_item), said("squat", id=squatted_item)])
    assert attacker.erase(turn_ids=[erased_item]).turns_erased == 1

    store = KonstructStore(Client(base_url, store_key.api_key))
    store.put(("U2",), "preferences", {"text": "likes tea"})
    store.put(("U2",), "profile", {"text": "works nights"})
    preferences, profile = store.get(("U2",), "preferences"), store.get(("U2",), "profile")
    assert preferences is not None and preferences.value == {"text": "likes tea"}
    assert profile is not None and profile.value == {"text": "works nights"}
    store.put(("U2",), "preferences", {"text": "likes tea"})  # a repeat stores nothing new
    assert sorted(item.key for item in store.search(("U2",))) == ["preferences", "profile"]
    assert store.get(("U1",), "profile") is None  # the squat is no item of U1's either


def test_two_tenants_erasing_the_same_person_record_unrelated_hashes(api: Api) -> None:
    hashes = []
    for name in ("tenant-a", "tenant-b"):
        tenant_id, _ = api.new_tenant(name)
        eraser = api.key_headers(tenant_id, scopes=EVERY_SCOPE)
        for _ in range(2):
            entry = api.client.post(
                "/v1/erasures", json={"user_id": "alice@example.com"}, headers=eraser
            ).json()
            assert entry["subject_hash_version"] == 2
            hashes.append(entry["subject_hash"])
    first_a, again_a, first_b, again_b = hashes
    assert first_a == again_a and first_b == again_b, "a repeat in one tenant matches"
    assert first_a != first_b, "another tenant's ledger cannot be matched against this one"


def test_a_ledger_of_the_earlier_hash_version_still_replays(memory: Memory) -> None:
    tenant = memory.create_tenant("old-ledger")
    turns = memory.tenant(tenant.id)
    turns.remember([{"agent_id": AGENT, "user_id": "U1", **said(f"detail {i}")} for i in range(2)])
    turns.remember([{"agent_id": AGENT, "user_id": "U2", **said("kept")}])
    key = key_of(memory.resources)
    written = datetime.now(UTC)
    entry = LedgerEntry(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        kind="user",
        turns_erased=2,
        audit_rows_erased=0,
        requested_at=written,
        completed_at=written,
        subject_hash=subject_hash_v1(key, None, "U1").hex(),
    )
    # An export line of an earlier release has no hash version at all.
    line = entry.model_dump_json(exclude={"subject_hash_version"})
    assert "subject_hash_version" not in line
    assert memory.replay_erasures([LedgerEntry.model_validate_json(line)]) == ReplayReport(
        1, 2, 0, 0
    )
    assert turns.history(AGENT, "U1") == []
    assert [t.content for t in turns.history(AGENT, "U2")] == ["kept"]
    [replayed] = turns.list_erasures()
    assert (replayed.replay_of, replayed.subject_hash_version) == (entry.id, 1)


def test_a_replayed_turn_erasure_stays_in_the_scope_it_was_confined_to(memory: Memory) -> None:
    tenant = memory.create_tenant("scoped-replay")
    turns = memory.tenant(tenant.id)
    shared = uuid.uuid4()
    for user in ("U1", "U2"):
        turns.remember([{"agent_id": AGENT, "user_id": user, **said(f"{user}'s", id=shared)}])
    key = key_of(memory.resources)
    written = datetime.now(UTC)
    entry = LedgerEntry(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        kind="turns",
        turns_erased=1,
        audit_rows_erased=0,
        requested_at=written,
        completed_at=written,
        subject_hash=subject_hash(key, tenant.id, uuid.UUID(AGENT), "U1", turns=True).hex(),
        subject_hash_version=2,
        turn_ids=[shared],
    )
    assert memory.replay_erasures([entry]) == ReplayReport(1, 1, 0, 0)
    assert turns.history(AGENT, "U1") == []
    assert [t.content for t in turns.history(AGENT, "U2")] == ["U2's"]


def test_a_tombstone_from_before_scoped_ids_still_refuses_its_id_everywhere(
    memory: Memory, database: DatabaseUnderTest
) -> None:
    tenant = memory.create_tenant("old-tombstone")
    turns = memory.tenant(tenant.id)
    old = uuid.uuid4()
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        conn.execute(  # as migration 012 leaves one: no agent, no user
            "INSERT INTO erased_turns (tenant_id, turn_id, erasure_id) VALUES (%s, %s, %s)",
            [tenant.id, old, uuid.uuid4()],
        )
    for user in ("U1", "U2"):
        with pytest.raises(Conflict, match="erased on request"):
            turns.remember([{"agent_id": AGENT, "user_id": user, **said("back", id=old)}])
    assert turns.history(AGENT, "U1") == [] and turns.history(AGENT, "U2") == []


def test_recall_across_users_keeps_two_users_turns_that_share_an_id_apart(memory: Memory) -> None:
    """A squatted id does not hide the owner's turn from a recall across users, nor lend it
    the squatter's metadata."""
    tenant = memory.tenant(memory.create_tenant("shared-ids").id)
    agent, shared = uuid.uuid4(), uuid.uuid4()
    tenant.remember(
        [
            {"id": shared, "agent_id": agent, "user_id": user, "role": "user",
             "content": content, "metadata": {"owner": user}}
            for user, content in (
                ("U1", "the spare key hides under the blue flowerpot"),
                ("U2", "the spare key hides behind the garden shed"),
            )
        ]
    )  # fmt: skip
    hits = tenant.recall_across_users(agent, "where is the spare key", k=5)
    assert sorted((hit.user_id, hit.id) for hit in hits) == [("U1", shared), ("U2", shared)]
    assert all(hit.metadata == {"owner": hit.user_id} for hit in hits)
    assert {hit.user_id: hit.content for hit in hits}["U2"].endswith("garden shed")
