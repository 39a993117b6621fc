"""A tenant switched to another embedding model (``model switch``) while writes and recalls run:
every recall answered from one model, no id changed, retries with chosen ids still idempotent,
a stopped switch resumed, the old model's vectors erased through the ledger and erased again by
a replay after a restore; the runtime role gains no right to change or remove a turn.

The new model is the two-layer model the embedder tests build (``tiny-cls-e5ish``); the old
one is the suite's bag-of-words embedder."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from konstruct_memory.cli import app
from konstruct_memory.db.tenant import tenant_transaction
from konstruct_memory.engine.ledger_file import read_entries
from konstruct_memory.errors import Conflict
from konstruct_memory.library import Memory
from konstruct_memory.store import search
from konstruct_memory.store.models import index_name
from konstruct_memory.store.scope import Scope
from konstruct_memory.tenant_memory import TenantMemory
from tests.conftest import DatabaseUnderTest, settings_over
from tests.fakes import BagOfWordsEmbedder
from tests.integration.test_embedders import other_model, packaged

__all__ = ["other_model", "packaged"]  # fixtures of the embedder tests, used here

TURNS = 5_000
USERS = 10
CHOSEN = 200  # turns stored with ids their client chose
NEW_MODEL = "local/tiny-cls-e5ish"
OLD_MODEL = BagOfWordsEmbedder.model_name
OWN_VECTORS = "SELECT count(*) FROM conversation_embeddings WHERE embedding IS NOT NULL"
TOPICS = ["garden", "invoice", "flight", "piano", "camping", "coffee", "marathon", "tax"]


class Stop(Exception):
    """Stands for a switch stopped part way (Ctrl-C, a lost host)."""


class StopAfter:
    """Progress that stops the switch after ``batches`` batches."""

    def __init__(self, batches: int) -> None:
        self.left = batches
        self.total = 0

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, turns: int) -> None:
        self.left -= 1
        if self.left <= 0:
            raise Stop


@pytest.fixture
def switched_memory(database: DatabaseUnderTest, tmp_path: Path) -> Iterator[Memory]:
    settings = settings_over(database, ledger_export=tmp_path / "ledger.jsonl")
    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
        yield memory


def said(agent: uuid.UUID, n: int, **more: Any) -> dict[str, Any]:
    topic = TOPICS[n % len(TOPICS)]
    return {
        "agent_id": agent,
        "user_id": f"U{n % USERS}",
        "role": "user" if n % 2 else "assistant",
        "content": f"turn {n}: we talked about the {topic} and number {n}",
        **more,
    }


def owner(database: DatabaseUnderTest, tenant_id: uuid.UUID, query: str) -> list[Any]:
    with psycopg.connect(database.admin_url) as conn:
        conn.execute("SELECT set_config('app.current_tenant', %s, true)", [str(tenant_id)])
        return conn.execute(query).fetchall()


def test_a_tenant_of_5000_turns_switches_while_writes_and_recalls_run(
    switched_memory: Memory, database: DatabaseUnderTest, other_model: Path
) -> None:
    memory = switched_memory
    tenant_id = memory.create_tenant("switching").id
    tenant = memory.tenant(tenant_id)
    agent = uuid.uuid4()
    chosen = {n: uuid.uuid4() for n in range(CHOSEN)}
    long_turn = "A long answer about the garden and the weather and the plans. " * 40
    batch = [said(agent, n, id=chosen.get(n)) for n in range(TURNS)]
    batch[7]["content"] += " " + long_turn + " The shed key is under the blue flowerpot."
    started = time.perf_counter()
    for start in range(0, TURNS, 500):
        tenant.remember(batch[start : start + 500])
    print(f"stored {TURNS} turns in {time.perf_counter() - started:.1f} s")
    before = _ids(tenant, agent)
    assert len(before) == TURNS

    # Stopped part way, after two batches of the new model's vectors.
    stopper = StopAfter(2)
    with pytest.raises(Stop):
        memory.switch_model(tenant_id, str(other_model), batch=256, progress=stopper)
    assert stopper.total == TURNS
    assert _reads(database, tenant_id) == (None, NEW_MODEL)  # reads unchanged, target recorded
    assert tenant.recall(agent, "U1", "the piano", k=3)

    answered, failures = 0, []
    written: list[uuid.UUID] = []
    stop = threading.Event()

    def recalls() -> None:
        nonlocal answered
        n = 0
        while not stop.is_set():
            try:
                hits = tenant.recall(agent, f"U{n % USERS}", f"the {TOPICS[n % 8]}", k=5)
                assert len(hits) == 5
                answered += 1
            except Exception as exc:  # every failure is reported below
                failures.append(exc)
            n += 1

    def writes() -> None:
        n = TURNS
        while not stop.is_set():
            turn_id = uuid.uuid4()
            try:
                tenant.remember([said(agent, n, id=turn_id)])
                written.append(turn_id)
            except Exception as exc:
                failures.append(exc)
            n += 1
            time.sleep(0.01)

    threads = [threading.Thread(target=recalls), threading.Thread(target=writes)]
    for thread in threads:
        thread.start()
    try:
        report = memory.switch_model(tenant_id, str(other_model), batch=256)
        time.sleep(0.5)  # some recalls and writes after the flip too
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    rate = report.turns_per_second
    print(f"switch: {report.embedded} turns at {rate:.0f} turns/s; {answered} recalls meanwhile")
    assert not failures, failures[:3]
    assert answered > 10
    assert report.flipped and report.model == NEW_MODEL
    assert 0 < report.embedded < TURNS, "the resumed run embeds only what the first one left"
    assert [e.embedding_model for e in report.removed] == [OLD_MODEL]

    # No id changed: every turn is there with its id, and the writes of the switch too.
    after = _ids(tenant, agent)
    assert after == before | set(written)
    assert tenant.get_turn(chosen[3]).content == batch[3]["content"]
    # A retry of a chosen id after the switch stores nothing twice.
    again = tenant.remember([said(agent, 3, id=chosen[3])])
    assert again[0].id == chosen[3]
    assert len(_ids(tenant, agent)) == len(after)
    with pytest.raises(Conflict, match="different fields"):
        tenant.remember([said(agent, 3, id=chosen[3], content="another text")])

    # Reads use the new model, from its vectors beside the turns; the old ones are gone.
    assert _reads(database, tenant_id) == (NEW_MODEL, None)
    [(own_left,)] = owner(database, tenant_id, OWN_VECTORS)
    assert own_left == 0
    beside = owner(
        database, tenant_id, "SELECT embedding_model, count(*) FROM turn_vectors GROUP BY 1"
    )
    assert beside == [(NEW_MODEL, len(after))]
    windows = owner(database, tenant_id, "SELECT DISTINCT embedding_model FROM turn_windows")
    assert windows == [(NEW_MODEL,)], "the long turn's windows follow the switch"
    hits = tenant.recall(agent, "U7", "where is the shed key? under the blue flowerpot", k=3)
    assert hits[0].id == before_id(tenant, agent, "U7", batch[7]["content"])
    across = tenant.recall_across_users(agent, "number 1234 tax", k=5)
    assert len(across) == 5

    # The removal is in the ledger, in the database and in its export file.
    entries = [e for e in memory.list_erasures_for_tenant(tenant_id) if e.kind == "model"]
    # The turns stored before the flip (the writes during the switch too) had both vectors.
    [erased] = entries
    assert erased.embedding_model == OLD_MODEL and TURNS <= erased.turns_erased <= len(after)
    exported = read_entries(memory.settings.ledger_export)  # type: ignore[arg-type]
    assert erased.id in {e.id for e in exported}

    # Run again: nothing to do.
    rerun = memory.switch_model(tenant_id, str(other_model))
    assert (rerun.embedded, rerun.flipped, rerun.removed) == (0, False, [])


def test_a_replay_after_a_restore_erases_the_old_models_vectors_again(
    switched_memory: Memory, database: DatabaseUnderTest, other_model: Path
) -> None:
    memory = switched_memory
    tenant_id = memory.create_tenant("restored").id
    agent = uuid.uuid4()
    memory.tenant(tenant_id).remember([said(agent, n) for n in range(40)])
    report = memory.switch_model(tenant_id, str(other_model))
    [entry] = report.removed
    exported = read_entries(memory.settings.ledger_export)  # type: ignore[arg-type]
    # A backup from after the flip but before the removal: old vectors back, no ledger entry.
    with psycopg.connect(database.admin_url) as conn:
        conn.execute("SELECT set_config('app.current_tenant', %s, true)", [str(tenant_id)])
        conn.execute(
            "UPDATE conversation_embeddings SET embedding = array_fill(0.05, ARRAY[384])::vector "
            "WHERE ctid IN (SELECT ctid FROM conversation_embeddings LIMIT 25)"
        )
        conn.execute("DELETE FROM erasures WHERE id = %s", [entry.id])
    replayed = memory.replay_erasures(exported)
    assert (replayed.entries_replayed, replayed.turns_erased) == (1, 25)
    [(left,)] = owner(database, tenant_id, OWN_VECTORS)
    assert left == 0
    again = memory.replay_erasures(exported)
    assert (again.entries_replayed, again.turns_erased) == (0, 0)
    replay_rows = [e for e in memory.list_erasures_for_tenant(tenant_id) if e.kind == "model"]
    assert [e.replay_of for e in replay_rows] == [entry.id]


def test_the_runtime_role_still_cannot_change_or_remove_turns_or_vectors(
    switched_memory: Memory, database: DatabaseUnderTest
) -> None:
    with psycopg.connect(database.runtime_url) as conn:
        rights = conn.execute(
            """
            SELECT t, p FROM unnest(ARRAY['conversation_embeddings', 'turn_vectors',
                                          'turn_windows', 'tenant_models']) AS t,
                          unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) AS p
            WHERE has_table_privilege(t, p) OR (p = 'UPDATE' AND t = 'conversation_embeddings'
                  AND has_column_privilege(t, 'embedding', 'UPDATE'))
            """
        ).fetchall()
        assert rights == []
        insert = conn.execute("SELECT has_table_privilege('tenant_models', 'INSERT')").fetchone()
        assert insert == (False,)
    # A tenant sees its own row of tenant_models only.
    memory = switched_memory
    a, b = memory.create_tenant("a").id, memory.create_tenant("b").id
    with psycopg.connect(database.admin_url) as conn:
        conn.execute(
            "INSERT INTO tenant_models (tenant_id, reads_model) VALUES (%s, 'x'), (%s, 'y')",
            [a, b],
        )
    with psycopg.connect(database.runtime_url) as conn:
        conn.execute("SELECT set_config('app.current_tenant', %s, true)", [str(a)])
        assert conn.execute("SELECT reads_model FROM tenant_models").fetchall() == [("x",)]


def test_a_switch_is_refused_to_a_model_the_store_cannot_hold_and_while_another_runs(
    switched_memory: Memory, database: DatabaseUnderTest, other_model: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from konstruct_memory.errors import ConfigurationError, InvalidInput

    memory = switched_memory
    tenant_id = memory.create_tenant("refusals").id
    agent = uuid.uuid4()
    memory.tenant(tenant_id).remember([said(agent, n) for n in range(5)])
    wide = tmp_path / "wide"
    shutil.copytree(other_model, wide)
    config = json.loads((wide / "config.json").read_text()) | {"hidden_size": 768}
    (wide / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigurationError, match="768-d vectors; the store holds 384-d"):
        memory.switch_model(tenant_id, str(wide))
    with pytest.raises(InvalidInput, match="neither a model directory"):
        memory.switch_model(tenant_id, "no/such/model")
    with pytest.raises(Stop):
        memory.switch_model(tenant_id, str(other_model), batch=1, progress=StopAfter(1))
    second = tmp_path / "second-model"
    shutil.copytree(other_model, second)
    with pytest.raises(Conflict, match=r"tiny-cls-e5ish.*unfinished"):
        memory.switch_model(tenant_id, str(second))
    # Back to the configured model is a switch like any other.
    memory.switch_model(tenant_id, str(other_model))
    back = memory.switch_model(tenant_id, OLD_MODEL)
    assert back.flipped and [e.embedding_model for e in back.removed] == [NEW_MODEL]
    assert memory.tenant(tenant_id).recall(agent, "U1", "the invoice", k=2)
    # Erasure removes a turn's vectors beside it with the turn.
    held = "SELECT count(*) FROM turn_vectors WHERE user_id = 'U1'"
    assert owner(database, tenant_id, held) == [(1,)]
    memory.tenant(tenant_id).erase(user_id="U1")
    assert owner(database, tenant_id, held) == [(0,)]


def test_the_command_line_switch(
    database: DatabaseUnderTest, other_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", database.runtime_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", database.admin_url)
    with Memory.open(settings_over(database)) as memory:  # the configured model: MiniLM
        tenant_id = memory.create_tenant("cli-switch").id
        memory.tenant(tenant_id).remember([said(uuid.uuid4(), n) for n in range(30)])
    runner = CliRunner()
    args = ["model", "switch", "--tenant", str(tenant_id), "--to", str(other_model)]
    first = runner.invoke(app, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "embedded 30 turns with local/tiny-cls-e5ish" in first.output
    assert "turns/s" in first.output
    assert "removed the vectors of sentence-transformers/all-MiniLM-L6-v2 (30 turns" in (
        first.output
    )
    second = runner.invoke(app, args, catch_exceptions=False)
    assert second.exit_code == 0
    assert second.output.strip() == "the tenant's reads use local/tiny-cls-e5ish"


def _ids(tenant: TenantMemory, agent: uuid.UUID) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for user in range(USERS):
        before = None
        while page := tenant.history(agent, f"U{user}", limit=1000, before=before):
            ids |= {turn.id for turn in page}
            before = page[-1].id
    return ids


def before_id(tenant: TenantMemory, agent: uuid.UUID, user: str, content: str) -> uuid.UUID:
    page = tenant.history(agent, user, limit=1000)
    before = None
    while page:
        for turn in page:
            if turn.content == content:
                return turn.id
        before = page[-1].id
        page = tenant.history(agent, user, limit=1000, before=before)
    raise AssertionError("turn not found")


def _reads(database: DatabaseUnderTest, tenant_id: uuid.UUID) -> tuple[str | None, str | None]:
    with psycopg.connect(database.admin_url) as conn:
        row = conn.execute(
            "SELECT reads_model, target_model FROM tenant_models WHERE tenant_id = %s", [tenant_id]
        ).fetchone()
    return (None, None) if row is None else (row[0], row[1])


def test_a_switched_tenants_heavy_scope_is_searched_on_the_models_own_index(
    switched_memory: Memory, other_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = switched_memory
    tenant_id = memory.create_tenant("heavy").id
    agent = uuid.uuid4()
    tenant = memory.tenant(tenant_id)
    tenant.remember([said(agent, n) for n in range(200)])
    memory.switch_model(tenant_id, str(other_model))
    exact = tenant.recall_across_users(agent, "the marathon and number 42", k=10)
    monkeypatch.setattr(search, "EXACT_SCOPE_ROWS", 20)  # every scope here is "heavy" now
    indexed = tenant.recall_across_users(agent, "the marathon and number 42", k=10)
    assert len(indexed) == 10
    assert [h.id for h in indexed][:3] == [h.id for h in exact][:3]
    assert len(tenant.recall(agent, "U3", "the flight", k=5)) == 5
    # The statement names the model as the partial index's predicate does: the plan uses it.
    vector = memory.resources.embedders.get(NEW_MODEL, str(other_model)).embed(["marathon"])[0]
    scope = Scope(agent_id=agent, user_id=None, embedding_model=NEW_MODEL, beside=True)
    with tenant_transaction(memory.resources.pool, tenant_id) as tx:
        plans = search.explain_nearest(tx, scope, vector, 10)
    assert any(index_name(NEW_MODEL) in line for line in plans), plans
