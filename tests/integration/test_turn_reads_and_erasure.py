"""One turn by id, the scopes that hold turns, and erasure of chosen turns: through the API with
keys of every kind, another tenant's included, and as the runtime role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from konstruct_memory.library import Memory
from tests.api import Api, bearer, serving
from tests.conftest import DatabaseUnderTest

AGENT, OTHER_AGENT = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module")
def api(memory: Memory) -> Iterator[Api]:
    with serving(memory, "turn-admin") as api:
        yield api


def said(user: str, content: str, agent: str = AGENT, **more: Any) -> dict[str, Any]:
    return {"agent_id": agent, "user_id": user, "role": "user", "content": content, **more}


def stored(api: Api, key: dict[str, str], *turns: dict[str, Any]) -> list[str]:
    answer = api.client.post("/v1/turns", json={"turns": list(turns)}, headers=key)
    assert answer.status_code == 201, answer.text
    return [turn["id"] for turn in answer.json()["turns"]]


def test_a_turn_by_id_is_found_only_within_the_tenant_and_the_binding(api: Api) -> None:
    client = api.client
    tenant_id, writer = api.new_tenant()
    [mine, theirs] = stored(
        api,
        writer,
        said("U1", "my locker code is 4411", metadata={"channel": "C1"}, conversation_id="t1"),
        said("U2", "I prefer tea"),
    )
    found = client.get(f"/v1/turns/{mine}", headers=writer)
    assert found.status_code == 200, found.text
    assert found.json()["content"] == "my locker code is 4411"
    assert (found.json()["metadata"], found.json()["conversation_id"]) == ({"channel": "C1"}, "t1")
    recalled = client.post(
        "/v1/recall", json={"agent_id": AGENT, "user_id": "U1", "query": "locker"}, headers=writer
    )
    assert recalled.json()["hits"][0]["metadata"] == {"channel": "C1"}

    bound_u1 = api.key_headers(tenant_id, scopes=["read"], user_id="U1")
    bound_other_agent = api.key_headers(tenant_id, scopes=["read"], agent_id=OTHER_AGENT)
    assert client.get(f"/v1/turns/{mine}", headers=bound_u1).status_code == 200
    # Outside the binding, or in another tenant: exactly as absent as an unknown id.
    unknown = client.get(f"/v1/turns/{uuid.uuid4()}", headers=writer)
    assert unknown.status_code == 404
    for key in (bound_u1, bound_other_agent):
        refused = client.get(f"/v1/turns/{theirs if key is bound_u1 else mine}", headers=key)
        assert (refused.status_code, refused.json()) == (404, unknown.json())
    _, stranger = api.new_tenant()
    assert client.get(f"/v1/turns/{mine}", headers=stranger).json() == unknown.json()

    malformed = client.get("/v1/turns/not-a-uuid", headers=writer)
    assert malformed.status_code == 422 and "turn_id" in malformed.json()["error"]["message"]
    writer_only = api.key_headers(tenant_id, scopes=["write"])
    assert client.get(f"/v1/turns/{mine}", headers=writer_only).status_code == 403


def test_scopes_list_each_thread_with_its_count_within_the_binding(api: Api) -> None:
    client = api.client
    tenant_id, writer = api.new_tenant()
    stored(
        api,
        writer,
        said("U1", "a", occurred_at="2026-01-01T10:00:00Z"),
        said("U1", "b", conversation_id="t1", occurred_at="2026-01-02T10:00:00Z"),
        said("U1", "c", conversation_id="t1", occurred_at="2026-01-05T10:00:00Z"),
        said("U2", "d"),
        said("U1", "e", agent=OTHER_AGENT),
    )
    listed = client.get("/v1/scopes", params={"agent_id": AGENT}, headers=writer)
    assert listed.status_code == 200, listed.text
    rows = [(s["user_id"], s["conversation_id"], s["turns"]) for s in listed.json()["scopes"]]
    assert rows == [("U1", None, 1), ("U1", "t1", 2), ("U2", None, 1)]
    thread = listed.json()["scopes"][1]
    assert thread["first_occurred_at"].startswith("2026-01-02")
    assert thread["last_occurred_at"].startswith("2026-01-05")

    everything = client.get("/v1/scopes", headers=writer).json()["scopes"]
    assert sum(s["turns"] for s in everything) == 5
    page = client.get("/v1/scopes", params={"limit": 2, "offset": 2}, headers=writer).json()
    assert page["scopes"] == everything[2:4]

    bound = api.key_headers(tenant_id, scopes=["read"], user_id="U2")
    assert [s["user_id"] for s in client.get("/v1/scopes", headers=bound).json()["scopes"]] == [
        "U2"
    ]
    refused = client.get("/v1/scopes", params={"user_id": "U1"}, headers=bound)
    assert refused.status_code == 403
    _, stranger = api.new_tenant()
    assert client.get("/v1/scopes", headers=stranger).json()["scopes"] == []
    too_many = client.get("/v1/scopes", params={"limit": 1001}, headers=writer)
    assert too_many.status_code == 422 and "limit" in too_many.json()["error"]["message"]


def test_history_narrows_by_time_window_and_role_and_pages_within_them(api: Api) -> None:
    _, key = api.new_tenant()
    day = "2026-03-{:02d}T12:00:00+00:00"
    ids = stored(
        api,
        key,
        *(
            {**said("U1", f"turn {n}", occurred_at=day.format(n)), "role": role}
            for n, role in enumerate(["user", "assistant"] * 4, start=1)
        ),
    )
    base = {"agent_id": AGENT, "user_id": "U1"}

    def history(**query: Any) -> list[str]:
        answer = api.client.get("/v1/history", params=base | query, headers=key)
        assert answer.status_code == 200, answer.text
        return [turn["id"] for turn in answer.json()["turns"]]

    window = {"since": day.format(2), "until": day.format(7)}
    assert history(**window) == ids[1:6]  # since inclusive, until exclusive
    assert history(**window, roles=["user"]) == [ids[2], ids[4]]
    assert history(roles=["user", "assistant"], limit=3) == ids[5:]
    # Paging back keeps the filters; the cursor need not match them.
    assert history(roles=["user"], limit=2, before=ids[7]) == [ids[4], ids[6]]
    assert history(roles=["user"], limit=2, before=ids[4]) == [ids[0], ids[2]]
    refused = api.client.get(
        "/v1/history", params=base | {"since": day.format(5), "until": day.format(5)}, headers=key
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == "until: must be later than since"
    wrong_role = api.client.get("/v1/history", params=base | {"roles": "robot"}, headers=key)
    assert wrong_role.status_code == 422
    assert wrong_role.json()["error"]["message"].startswith("roles[0]:")


def test_erasing_chosen_turns_removes_them_only_and_records_what_went(api: Api) -> None:
    client = api.client
    tenant_id, writer = api.new_tenant()
    first, second, kept = stored(
        api,
        writer,
        said("U1", "my passport number is X123", id=str(uuid.uuid4())),
        said("U1", "my mother's maiden name is Okafor"),
        said("U1", "I like sailing"),
    )
    eraser = api.new_key(tenant_id, scopes=["erase"])
    asked = client.post(
        "/v1/erasures", json={"turn_ids": [first, second]}, headers=bearer(eraser["api_key"])
    )
    assert asked.status_code == 201, asked.text
    entry = asked.json()
    assert (entry["kind"], entry["turns_erased"], entry["key_id"]) == ("turns", 2, eraser["id"])
    assert sorted(entry["turn_ids"]) == sorted([first, second])

    for turn_id in (first, second):
        assert client.get(f"/v1/turns/{turn_id}", headers=writer).status_code == 404
    history = client.get("/v1/history", params={"agent_id": AGENT, "user_id": "U1"}, headers=writer)
    assert [t["id"] for t in history.json()["turns"]] == [kept]
    recalled = client.post(
        "/v1/recall",
        json={"agent_id": AGENT, "user_id": "U1", "query": "passport maiden name"},
        headers=writer,
    )
    assert [hit["id"] for hit in recalled.json()["hits"]] == [kept]

    # A retry queue cannot bring an erased turn back.
    retry = client.post(
        "/v1/turns",
        json={"turns": [said("U1", "my passport number is X123", id=first)]},
        headers=writer,
    )
    assert retry.status_code == 409 and "erased" in retry.json()["error"]["message"]
    again = client.post(
        "/v1/erasures", json={"turn_ids": [second, first]}, headers=bearer(eraser["api_key"])
    ).json()
    assert (again["turns_erased"], again["turn_ids"]) == (0, [])
    assert again["subject_hash"] == entry["subject_hash"]


def test_a_turn_erasure_stays_inside_the_binding_and_the_tenant(api: Api) -> None:
    client = api.client
    tenant_id, writer = api.new_tenant()
    [u1, u2] = stored(api, writer, said("U1", "one"), said("U2", "two"))
    bound = api.key_headers(tenant_id, scopes=["erase"], user_id="U1")
    outside = client.post("/v1/erasures", json={"turn_ids": [u2]}, headers=bound).json()
    assert outside["turns_erased"] == 0
    other_tenant, _ = api.new_tenant()
    foreign = api.key_headers(other_tenant, scopes=["erase"])
    assert client.post("/v1/erasures", json={"turn_ids": [u1, u2]}, headers=foreign).json()[
        "turns_erased"
    ] == (0)
    reader = api.key_headers(tenant_id, scopes=["read", "write"])
    assert client.post("/v1/erasures", json={"turn_ids": [u1]}, headers=reader).status_code == 403
    for turn_id in (u1, u2):
        assert client.get(f"/v1/turns/{turn_id}", headers=writer).status_code == 200

    unbound = api.key_headers(tenant_id, scopes=["erase"])
    for body, field in (
        ({"turn_ids": []}, "turn_ids"),
        ({"turn_ids": [str(uuid.uuid4()) for _ in range(1001)]}, "turn_ids"),
        ({"turn_ids": ["nope"]}, "turn_ids[0]"),
    ):
        bad = client.post("/v1/erasures", json=body, headers=unbound)
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["message"].startswith(field)


def test_the_runtime_role_cannot_call_the_turn_eraser_without_a_tenant(
    database: DatabaseUnderTest,
) -> None:
    call = (
        "SELECT * FROM konstruct_erase_turns(%s, NULL, NULL, %s, 2, NULL, now(), NULL, NULL)",
        [[uuid.uuid4()], b"\x00" * 32],
    )
    with psycopg.connect(database.runtime_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(*call)
        conn.rollback()
        conn.execute("SELECT set_config('app.current_tenant', %s, true)", [str(uuid.uuid4())])
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute(
                "SELECT * FROM konstruct_erase_turns('{}', NULL, NULL, %s, 2, NULL, now(), NULL, "
                "NULL)",
                [b"\x00" * 32],
            )


def test_reading_a_turn_by_id_is_audited(api: Api) -> None:
    client = api.client
    tenant_id, writer = api.new_tenant()
    policy = {"audit_reads": True}
    changed = client.patch(f"/v1/tenants/{tenant_id}", json=policy, headers=api.admin)
    assert changed.status_code == 200, changed.text
    [turn_id] = stored(api, writer, said("U1", "audited"))
    assert client.get(f"/v1/turns/{turn_id}", headers=writer).status_code == 200
    auditor = api.key_headers(tenant_id, scopes=["audit"])
    trail = client.get("/v1/audit", headers=auditor).json()["entries"]
    assert [(e["operation"], e["user_id"], e["turn_ids"]) for e in trail] == [
        ("get_turn", "U1", [turn_id])
    ]
