"""The window vectors of long turns (``turn_windows``): written once with their turn, removed
with it by erasure and retention, out of the runtime role's reach but for SELECT and INSERT,
confined to their tenant; and a one-sentence fact at the end of a long answer found first with
the real model, which the turn's pooled vector alone does not find."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import errors

from konstruct_memory.config import Settings
from konstruct_memory.embed.local import LocalEmbedder
from konstruct_memory.embed.model_files import package_copy
from konstruct_memory.library import Memory, TenantMemory
from tests.conftest import DatabaseUnderTest, settings_over
from tests.fakes import ParagraphWindowsEmbedder
from tests.integration.test_long_turns import PARAGRAPHS

# The long-turn benchmark's embedder that withholds the window vectors: the turns as stored
# before migration 013.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from long_turns import PooledOnly

AGENT = uuid.uuid4()
LONG = "\n\n".join(
    [
        "The garden needs compost in spring and a layer of mulch in summer.",
        "Slugs come out at night; beer traps and copper tape keep them off the lettuce.",
        "Water deeply twice a week rather than a little every evening.",
    ]
)


@pytest.fixture(scope="module")
def memory(database: DatabaseUnderTest) -> Iterator[Memory]:
    with Memory.open(settings_over(database), embedder=ParagraphWindowsEmbedder()) as memory:
        yield memory


@pytest.fixture
def tenant(memory: Memory) -> TenantMemory:
    return memory.tenant(memory.create_tenant("windows-" + uuid.uuid4().hex[:6]).id)


def turn(user: str, content: str, **more: Any) -> dict[str, Any]:
    return {"agent_id": AGENT, "user_id": user, "role": "assistant", "content": content, **more}


def windows_of(database: DatabaseUnderTest, tenant_id: UUID) -> list[tuple[Any, ...]]:
    """The tenant's window rows, read by the superuser (no row-level security)."""
    with psycopg.connect(database.superuser_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT turn_id, user_id, window_no FROM turn_windows WHERE tenant_id = %s "
            "ORDER BY turn_id, window_no",
            [tenant_id],
        ).fetchall()


def as_app(database: DatabaseUnderTest, tenant_id: UUID) -> psycopg.Connection[Any]:
    conn = psycopg.connect(database.runtime_url)
    conn.execute("SELECT set_config('app.current_tenant', %s, true)", [str(tenant_id)])
    return conn


def test_only_long_turns_get_windows_and_a_retry_adds_none(
    tenant: TenantMemory, database: DatabaseUnderTest
) -> None:
    chosen = uuid.uuid4()
    batch = [turn("U1", LONG, id=chosen), turn("U1", "A short reply.")]
    first = tenant.remember(batch)
    assert windows_of(database, tenant.tenant_id) == [(chosen, "U1", n) for n in range(3)]
    again = tenant.remember(batch[:1])  # the retry of the long turn
    assert again[0] == first[0]
    assert len(windows_of(database, tenant.tenant_id)) == 3
    # The same id for another user names another turn, with windows of its own.
    tenant.remember([turn("U2", LONG, id=chosen)])
    assert len(windows_of(database, tenant.tenant_id)) == 6


def test_a_turn_with_its_own_vector_has_no_windows(
    tenant: TenantMemory, database: DatabaseUnderTest
) -> None:
    tenant.remember([turn("U1", LONG, embedding=[1.0] * 384)])
    assert windows_of(database, tenant.tenant_id) == []


def test_erasure_of_a_user_or_of_chosen_turns_removes_their_windows(
    tenant: TenantMemory, database: DatabaseUnderTest
) -> None:
    kept, gone = uuid.uuid4(), uuid.uuid4()
    tenant.remember([turn("U1", LONG, id=kept), turn("U1", LONG + "\n\nMore.", id=gone)])
    tenant.remember([turn("U2", LONG)])
    assert len(windows_of(database, tenant.tenant_id)) == 3 + 4 + 3
    tenant.erase(AGENT, "U1", turn_ids=[gone])
    assert {row[0] for row in windows_of(database, tenant.tenant_id) if row[1] == "U1"} == {kept}
    tenant.erase(user_id="U2")
    assert [row[0] for row in windows_of(database, tenant.tenant_id)] == [kept] * 3
    tenant.erase(agent_id=AGENT)
    assert windows_of(database, tenant.tenant_id) == []


def test_retention_removes_the_windows_of_expired_turns(
    memory: Memory, tenant: TenantMemory, database: DatabaseUnderTest
) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    tenant.remember([turn("U1", LONG, occurred_at=old), turn("U1", LONG + "\n\nNew.")])
    memory.update_tenant(tenant.tenant_id, retention_days=30)
    memory.apply_retention()
    assert [row[2] for row in windows_of(database, tenant.tenant_id)] == [0, 1, 2, 3]


def test_the_runtime_role_may_not_change_or_remove_windows(
    tenant: TenantMemory, database: DatabaseUnderTest
) -> None:
    tenant.remember([turn("U1", LONG)])
    for statement in (
        "UPDATE turn_windows SET window_no = 9",
        "DELETE FROM turn_windows",
        "TRUNCATE turn_windows",
        "ALTER TABLE turn_windows NO FORCE ROW LEVEL SECURITY",
    ):
        with (
            as_app(database, tenant.tenant_id) as conn,
            pytest.raises(errors.InsufficientPrivilege),
        ):
            conn.execute(statement)
    assert len(windows_of(database, tenant.tenant_id)) == 3


def test_another_tenant_neither_sees_nor_writes_a_tenants_windows(
    memory: Memory, tenant: TenantMemory, database: DatabaseUnderTest
) -> None:
    tenant.remember([turn("U1", LONG)])
    [(turn_id, _, _), *_] = windows_of(database, tenant.tenant_id)
    other = memory.create_tenant("windows-other").id
    with as_app(database, other) as conn:
        assert conn.execute("SELECT count(*) FROM turn_windows").fetchone() == (0,)
        with pytest.raises(errors.InsufficientPrivilege):  # the policy's WITH CHECK
            conn.execute(
                "INSERT INTO turn_windows VALUES (%s, %s, %s, 'U1', 7, %s::vector, 'm')",
                [tenant.tenant_id, turn_id, AGENT, str([0.1] * 384)],
            )
    with as_app(database, tenant.tenant_id) as conn:
        assert conn.execute("SELECT count(*) FROM turn_windows").fetchone() == (3,)


def test_recall_scores_a_long_turn_by_its_best_window(tenant: TenantMemory) -> None:
    """With the bag-of-words stand-in: the paragraph on slugs makes the long turn the closest,
    and its similarity is that paragraph's, not the mean's."""
    tenant.remember(
        [
            turn("U1", LONG),
            turn("U1", "Slugs are molluscs, and lettuce is a leaf."),
            turn("U1", "The weather was fine today."),
        ]
    )
    query = "slugs come out at night beer traps copper tape lettuce"
    hits = tenant.recall(AGENT, "U1", query, k=3)
    assert hits[0].content == LONG
    embedded = ParagraphWindowsEmbedder().embed_windowed([LONG])
    [query_vector] = ParagraphWindowsEmbedder().embed([query])
    pooled, best_window = embedded.vectors[0] @ query_vector, max(embedded.windows @ query_vector)
    assert best_window > pooled + 0.2
    assert hits[0].parts is not None
    assert hits[0].parts.similarity == pytest.approx(best_window, abs=1e-5)
    # Filters of the turn apply to its windows: a thread the turn is not in finds nothing.
    assert tenant.recall(AGENT, "U1", query, k=3, conversation_id="elsewhere") == []


@pytest.mark.parametrize(
    ("fact", "question"),
    [
        (
            "The cast iron pan you inherited from your grandmother should never go in the "
            "dishwasher.",
            "Which cookware must I clean by hand?",
        ),
        (
            "The client in Rotterdam prefers calls after two in the afternoon, their time.",
            "When is the best moment to phone the Dutch customer?",
        ),
    ],
)
def test_a_one_sentence_fact_at_the_end_of_a_long_answer_is_found_first(
    database: DatabaseUnderTest, fact: str, question: str
) -> None:
    """About 1,000 word pieces of gardening advice, then the fact: its window finds it, first;
    the answer's pooled vector alone (the mean of five windows) leaves it out of the top 3."""
    model = LocalEmbedder(package_copy())
    answer = "\n\n".join([*PARAGRAPHS, *PARAGRAPHS[::-1]]) + " " + fact
    turns = [
        ("user", "Can you help me plan my first vegetable garden?"),
        ("assistant", answer),
        ("user", "And what about a second bed next year?"),
        ("assistant", "\n\n".join([*PARAGRAPHS[3:], *PARAGRAPHS[:3]])),
        ("user", "Thanks, that is really helpful."),
        ("assistant", "You're welcome, happy gardening!"),
    ]
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    found = {}
    for name, embedder in (("windows", model), ("pooled only", PooledOnly(model))):
        with Memory.open(settings, embedder=embedder) as memory:
            tenant = memory.tenant(memory.create_tenant("long-fact").id)
            tenant.remember(
                [
                    {"agent_id": AGENT, "user_id": "U1", "role": role, "content": content}
                    for role, content in turns
                ]
            )
            found[name] = [hit.content for hit in tenant.recall(AGENT, "U1", question, k=3)]
    assert found["windows"][0] == answer
    assert answer not in found["pooled only"]
