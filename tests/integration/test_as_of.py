"""``as_of``: recall, recall across users, history and context as memory held them at a moment.

Three batches are stored at three moments; a turn of the first is erased afterwards. On every
face (the library, HTTP through both clients, the CLI, MCP), ``as_of`` between two batches
answers exactly the turns of the batches before it, the erased turn never comes back, a moment
in the future is the present, and a malformed or naive moment is refused naming the field.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from konstruct_memory.cli import app as cli_app
from konstruct_memory.client import AsyncClient, Client
from konstruct_memory.errors import InvalidInput
from konstruct_memory.library import Memory, TenantMemory
from konstruct_memory.serving import create_app
from tests.integration.test_mcp import tools_of

AGENT = uuid.UUID("0a5f0000-0000-4000-8000-000000000001")
USER, OTHER = "U1", "U2"
QUERY = "what is the boat called?"
BATCHES = [
    ["Our boat is called Seagull.", "We keep the boat in the north harbour."],
    ["We repainted the boat blue.", "The boat's engine was serviced in spring."],
    ["We sold the boat last week.", "The new boat is called Petrel."],
]


@dataclass(frozen=True)
class Timeline:
    tenant: TenantMemory
    api_key: str
    batches: list[set[uuid.UUID]]  # ids of each batch's turns, the erased one left out
    moments: list[datetime]  # when each batch was stored
    erased: uuid.UUID

    def held(self, batches: int) -> set[uuid.UUID]:
        """The ids memory held after the first ``batches`` batches (erasure included)."""
        return set().union(*self.batches[:batches])

    def between(self, batches: int) -> datetime:
        """A moment after batch ``batches`` was stored and before the next one."""
        return self.moments[batches - 1] + (self.moments[batches] - self.moments[batches - 1]) / 2


@pytest.fixture(scope="module")
def timeline(memory: Memory) -> Timeline:
    created = memory.create_tenant("as-of")
    memory.update_tenant(created.id, audit_reads=True)
    tenant = memory.tenant(created.id)
    batches, moments = [], []
    for contents in BATCHES:
        stored = tenant.remember(
            [
                {"agent_id": AGENT, "user_id": user, "role": "user", "content": content}
                for content in contents
                for user in (USER, OTHER)
            ]
        )
        batches.append({turn.id for turn in stored if turn.user_id == USER})
        moments.append(stored[0].created_at)
        time.sleep(0.05)  # the batches' moments apart by more than a clock's step
    first = sorted(batches[0])[0]
    tenant.erase(agent_id=AGENT, user_id=USER, turn_ids=[first])
    batches[0].discard(first)
    return Timeline(tenant, created.api_key, batches, moments, first)


def ids(turns: Any) -> set[uuid.UUID]:
    return {uuid.UUID(str(t["id"] if isinstance(t, dict) else t.id)) for t in turns}


def test_the_library_answers_what_memory_held_at_each_moment(timeline: Timeline) -> None:
    tenant = timeline.tenant
    for batches in (1, 2):
        as_of = timeline.between(batches)
        held = timeline.held(batches)
        assert ids(tenant.recall(AGENT, USER, QUERY, k=10, as_of=as_of)) == held
        assert ids(tenant.history(AGENT, USER, as_of=as_of)) == held
        context = tenant.context(AGENT, USER, QUERY, recent=1, k=10, as_of=as_of)
        assert ids(context.recent) | ids(context.recalled) == held
        across = tenant.recall_across_users(AGENT, QUERY, k=20, as_of=as_of)
        # Both users' turns of those batches, but the one erased.
        assert len(across) == 4 * batches - 1 and held <= ids(across)
    # At a batch's own moment, that batch is held: stored at or before as_of.
    assert ids(tenant.history(AGENT, USER, as_of=timeline.moments[0])) == timeline.held(1)
    before_anything = timeline.moments[0] - timedelta(seconds=1)
    assert tenant.recall(AGENT, USER, QUERY, as_of=before_anything) == []


def test_an_erased_turn_never_comes_back_and_the_future_is_the_present(
    timeline: Timeline,
) -> None:
    tenant = timeline.tenant
    everything = timeline.held(3)
    future = datetime.now().astimezone() + timedelta(days=365)
    assert ids(tenant.history(AGENT, USER, as_of=future)) == everything
    assert ids(tenant.history(AGENT, USER)) == everything
    for as_of in (timeline.between(1), timeline.between(2), future):
        hits = tenant.recall(AGENT, USER, "boat called Seagull harbour", k=10, as_of=as_of)
        assert timeline.erased not in ids(hits)


@pytest.mark.parametrize("bad", ["2026-01-01T10:00:00", "yesterday", "2026-13-01T00:00:00Z", 5])
def test_a_malformed_or_naive_moment_is_refused_naming_the_field(
    timeline: Timeline, memory: Memory, bad: Any
) -> None:
    with pytest.raises(InvalidInput) as refused:
        timeline.tenant.recall(AGENT, USER, QUERY, as_of=bad)
    assert refused.value.field == "as_of"
    app = create_app(memory.settings, memory=memory, admin_token="as-of-admin")
    headers = {"Authorization": f"Bearer {timeline.api_key}"}
    body = {"agent_id": str(AGENT), "user_id": USER, "query": QUERY, "as_of": bad}
    with TestClient(app, raise_server_exceptions=False) as http:
        for path in ("/v1/recall", "/v1/context"):
            response = http.post(path, json=body, headers=headers)
            assert response.status_code == 422, response.text
            assert response.json()["error"]["message"].startswith("as_of: ")
        listed = http.get(
            "/v1/history",
            params={"agent_id": str(AGENT), "user_id": USER, "as_of": str(bad)},
            headers=headers,
        )
        assert listed.status_code == 422 and "as_of" in listed.json()["error"]["message"]


def test_both_clients_pass_as_of(timeline: Timeline, base_url: str) -> None:
    as_of, held = timeline.between(1), timeline.held(1)
    with Client(base_url, timeline.api_key) as client:
        assert ids(client.recall(AGENT, USER, QUERY, as_of=as_of)) == held
        assert ids(client.history(AGENT, USER, as_of=as_of)) == held
        context = client.context(AGENT, USER, QUERY, recent=0, k=10, as_of=as_of)
        assert ids(context.recalled) == held

    async def from_the_async_client() -> list[set[uuid.UUID]]:
        async with AsyncClient(base_url, timeline.api_key) as client:
            return [
                ids(await client.recall(AGENT, USER, QUERY, as_of=as_of)),
                ids(await client.history(AGENT, USER, as_of=as_of)),
                {h.id for h in await client.recall_across_users(AGENT, QUERY, as_of=as_of)} & held,
            ]

    assert asyncio.run(from_the_async_client()) == [held, held, held]


def test_the_cli_takes_as_of(timeline: Timeline, base_url: str) -> None:
    reach = ["--api-key", timeline.api_key, "--url", base_url, "--agent-id", str(AGENT)]
    as_of, held = timeline.between(2).isoformat(), timeline.held(2)
    cli = CliRunner()

    def run(*args: str) -> str:
        result = cli.invoke(cli_app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout  # the answer alone, without any log line on stderr

    lines = run("recall", *reach, "--user-id", USER, QUERY, "--as-of", as_of, "--json")
    assert ids(json.loads(line) for line in lines.splitlines()) == held
    lines = run("history", *reach, "--user-id", USER, "--as-of", as_of, "--json")
    assert ids(json.loads(line) for line in lines.splitlines()) == held
    answer = json.loads(
        run("context", *reach, "--user-id", USER, QUERY, "--recent", "0", "--k", "10",
            "--as-of", as_of, "--json")
    )  # fmt: skip
    assert ids(answer["recalled"]) == held
    refused = cli.invoke(cli_app, ["recall", *reach, "--user-id", USER, QUERY, "--as-of", "soon"])
    assert refused.exit_code != 0 and "as_of: " in refused.output


def test_the_mcp_tools_take_as_of(timeline: Timeline, memory: Memory) -> None:
    as_of, held = timeline.between(1).isoformat(), timeline.held(1)
    key = memory.create_api_key(timeline.tenant.tenant_id, agent_id=AGENT).api_key
    calls = [
        ("recall", {"query": QUERY, "user_id": USER, "as_of": as_of}),
        ("history", {"user_id": USER, "as_of": as_of}),
        ("context", {"query": QUERY, "user_id": USER, "recent": 0, "k": 10, "as_of": as_of}),
        ("recall", {"query": QUERY, "user_id": USER, "as_of": "2026-01-01T00:00:00"}),
    ]
    listed, recalled, history, context, naive = anyio.run(tools_of, memory, key, calls)
    tools = {tool.name: tool for tool in listed.tools}
    for name in ("recall", "history", "context"):
        assert "as_of" in tools[name].input_schema["properties"], name
    assert ids(recalled.structured_content["hits"]) == held
    assert ids(history.structured_content["turns"]) == held
    assert ids(context.structured_content["recalled"]) == held
    assert naive.is_error and "as_of: " in "".join(block.text for block in naive.content)


def test_the_read_audit_records_as_of(timeline: Timeline) -> None:
    as_of = timeline.between(2)
    timeline.tenant.recall(AGENT, USER, "audited look back", as_of=as_of)
    timeline.tenant.recall(AGENT, USER, "audited present")
    entries = timeline.tenant.list_audit(order="desc", limit=2)
    assert [entry.operation for entry in entries] == ["recall", "recall"]
    assert entries[0].as_of is None
    assert entries[1].as_of == as_of
