"""recall: min(k, n) always, strict scoping, hybrid ranking, filters; history and context."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from konstruct_memory.config import Settings
from konstruct_memory.engine.ranking import RecallTuning
from konstruct_memory.errors import InvalidInput, NotFound
from konstruct_memory.library import Memory, TenantMemory
from tests.conftest import DatabaseUnderTest
from tests.fakes import BagOfWordsEmbedder, BlindEmbedder

AGENT = uuid.UUID("22222222-2222-4222-8222-222222222222")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def turns(
    n: int,
    *,
    user: str = "U1",
    agent: uuid.UUID = AGENT,
    prefix: str = "note",
    embedding: bool = False,
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(n)
    out = []
    for i in range(n):
        item: dict[str, Any] = {
            "agent_id": agent,
            "user_id": user,
            "role": ("user", "assistant")[i % 2],
            "content": f"{prefix} {i} about topic {i % 7}",
            "occurred_at": T0 + timedelta(minutes=i),
        }
        if embedding:
            item["embedding"] = rng.normal(size=384).tolist()
        out.append(item)
    return out


@pytest.fixture(scope="module")
def crowded(memory: Memory) -> dict[str, Any]:
    """A large tenant (one big user, one tiny user, a second agent) and a tiny tenant, in a
    table large enough that an HNSW scan is a plausible plan."""
    big = memory.tenant(memory.create_tenant("big").id)
    for start in range(0, 3000, 1000):
        big.remember(turns(1000, user="whale", prefix=f"w{start}", embedding=True))
    big.remember(turns(3, user="minnow", prefix="minnow"))
    other_agent = uuid.uuid4()
    big.remember(turns(4, user="minnow", agent=other_agent, prefix="elsewhere"))
    small = memory.tenant(memory.create_tenant("small").id)
    small.remember(turns(5, user="whale", prefix="small"))
    return {"big": big, "small": small, "other_agent": other_agent}


@pytest.mark.parametrize(("k", "expected"), [(1, 1), (3, 3), (10, 3), (100, 3)])
def test_small_user_inside_a_large_tenant_gets_min_k_n(
    crowded: dict[str, Any], k: int, expected: int
) -> None:
    hits = crowded["big"].recall(AGENT, "minnow", "topic", k=k)
    assert len(hits) == expected
    assert all(h.content.startswith("minnow") for h in hits)


@pytest.mark.parametrize(("k", "expected"), [(4, 4), (10, 5)])
def test_small_tenant_inside_a_large_table_gets_min_k_n(
    crowded: dict[str, Any], k: int, expected: int
) -> None:
    hits = crowded["small"].recall(AGENT, "whale", "topic", k=k)
    assert len(hits) == expected
    assert all(h.content.startswith("small") for h in hits)


def test_large_user_gets_exactly_k(crowded: dict[str, Any]) -> None:
    assert len(crowded["big"].recall(AGENT, "whale", "topic 3", k=100)) == 100


def test_across_users_is_explicit_and_still_min_k_n(crowded: dict[str, Any]) -> None:
    big = crowded["big"]
    hits = big.recall_across_users(crowded["other_agent"], "topic", k=10)
    assert len(hits) == 4 and all(h.content.startswith("elsewhere") for h in hits)
    everyone = big.recall_across_users(AGENT, "minnow topic", k=50)
    assert len(everyone) == 50 and {h.user_id for h in everyone} <= {"whale", "minnow"}
    assert all(h.user_id == "minnow" for h in big.recall(AGENT, "minnow", "whale topic", k=10))


def test_scope_never_leaks_another_user_agent_or_tenant(memory: Memory) -> None:
    a = memory.tenant(memory.create_tenant("a").id)
    b = memory.tenant(memory.create_tenant("b").id)
    a.remember(
        [{"agent_id": AGENT, "user_id": "U1", "role": "user", "content": "secret plan alpha"}]
    )
    other_agent = uuid.uuid4()
    for t, user, agent in [(a, "U2", AGENT), (a, "U1", other_agent), (b, "U1", AGENT)]:
        t.remember(
            [
                {
                    "agent_id": agent,
                    "user_id": user,
                    "role": "user",
                    "content": "secret plan alpha beta",
                }
            ]
        )
    hits = a.recall(AGENT, "U1", "secret plan alpha", k=100)
    assert [h.content for h in hits] == ["secret plan alpha"]
    assert [h.content for h in b.recall(AGENT, "U1", "secret plan", k=100)] == [
        "secret plan alpha beta"
    ]
    assert b.recall(AGENT, "U2", "secret plan", k=100) == []
    assert [t.content for t in a.history(AGENT, "U1")] == ["secret plan alpha"]


@pytest.fixture
def blind_tenant(database: DatabaseUnderTest) -> Iterator[TenantMemory]:
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    with Memory.open(settings, embedder=BlindEmbedder()) as memory:
        yield memory.tenant(memory.create_tenant("blind").id)


def test_a_rare_word_finds_its_turn_where_vectors_cannot(blind_tenant: TenantMemory) -> None:
    filler = [f"we talked about the weather and lunch, part {i}" for i in range(60)]
    contents = [*filler[:30], "my order number is ZX48213, it shipped Tuesday", *filler[30:]]
    blind_tenant.remember(
        [{"agent_id": AGENT, "user_id": "U1", "role": "user", "content": c} for c in contents]
    )
    hits = blind_tenant.recall(AGENT, "U1", "where is ZX48213?", k=3)
    assert hits[0].content.startswith("my order number is ZX48213")


def test_filters_by_time_role_and_conversation(tenant: TenantMemory) -> None:
    items = turns(10)
    for i, item in enumerate(items):
        item["conversation_id"] = "thread-a" if i < 5 else "thread-b"
    tenant.remember(items)
    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=6)
    hits = tenant.recall(AGENT, "U1", "topic", k=100, since=since, until=until)
    assert sorted(h.occurred_at for h in hits) == [T0 + timedelta(minutes=m) for m in range(2, 6)]
    assert {h.role for h in tenant.recall(AGENT, "U1", "topic", k=100, roles=["assistant"])} == {
        "assistant"
    }
    thread = tenant.recall(AGENT, "U1", "topic", k=100, conversation_id="thread-b")
    assert len(thread) == 5 and {h.conversation_id for h in thread} == {"thread-b"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"k": "5"}, "k"),
        ({"query": " "}, "query"),
        ({"since": "last week"}, "since"),
        ({"roles": ["system"]}, "roles[0]"),
        ({"roles": []}, "roles"),
        ({"agent_id": "x"}, "agent_id"),
        ({"user_id": ""}, "user_id"),
    ],
)
def test_recall_rejects_bad_arguments(
    tenant: TenantMemory, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"agent_id": AGENT, "user_id": "U1", "query": "hi"} | kwargs
    with pytest.raises(InvalidInput) as caught:
        tenant.recall(**args)
    assert caught.value.field == field


def test_history_pages_backwards_in_chronological_pages(tenant: TenantMemory) -> None:
    tenant.remember(turns(25))
    page = tenant.history(AGENT, "U1", limit=10)
    assert [t.content for t in page] == [f"note {i} about topic {i % 7}" for i in range(15, 25)]
    older = tenant.history(AGENT, "U1", limit=10, before=page[0].id)
    assert [t.occurred_at.minute for t in older] == list(range(5, 15))
    oldest = tenant.history(AGENT, "U1", limit=10, before=older[0].id)
    assert len(oldest) == 5
    assert tenant.history(AGENT, "U1", limit=10, before=oldest[0].id) == []
    with pytest.raises(NotFound):
        tenant.history(AGENT, "U1", before=uuid.uuid4())
    with pytest.raises(InvalidInput, match="limit"):
        tenant.history(AGENT, "U1", limit=0)


def test_neighbours_of_a_match_are_recalled(memory: Memory, tenant: TenantMemory) -> None:
    """The short reply after a matching question, with nothing of its own in common with the
    query, is recalled right after the question: it borrows its place, not a score."""
    filler = [f"filler chatter number {i}" for i in range(40)]
    contents = [
        *filler[:20],
        "what was the name of your first teacher?",
        "Mrs Ambrose!",
        *filler[20:],
    ]
    tenant.remember(
        [
            {
                "agent_id": AGENT,
                "user_id": "U1",
                "role": "user",
                "content": c,
                "occurred_at": T0 + timedelta(minutes=i),
            }
            for i, c in enumerate(contents)
        ]
    )
    lent = [h.content for h in tenant.recall(AGENT, "U1", "first teacher name", k=3)]
    no_lending = RecallTuning(neighbour_share=0, reply_share=0)
    without = Memory(replace(memory.resources, tuning=no_lending))
    alone = [
        h.content
        for h in without.tenant(tenant.tenant_id).recall(AGENT, "U1", "first teacher name", k=3)
    ]
    assert lent[0] == "what was the name of your first teacher?"
    assert "Mrs Ambrose!" in lent
    assert "Mrs Ambrose!" not in alone


def test_context_combines_recent_and_recalled_within_budget(tenant: TenantMemory) -> None:
    tenant.remember(
        [
            {
                "agent_id": AGENT,
                "user_id": "U1",
                "role": "user",
                "content": "my cat Pixel loves tuna",
                "occurred_at": T0,
            }
        ]
    )
    tenant.remember(turns(12, prefix="recent chat"))
    context = tenant.context(AGENT, "U1", "what does Pixel like to eat?", recent=5, k=3)
    assert len(context.recent) == 5
    assert {h.id for h in context.recalled}.isdisjoint({t.id for t in context.recent})
    assert context.recalled[0].content == "my cat Pixel loves tuna"
    assert "user: my cat Pixel loves tuna" in context.text
    assert "[2026-01-01T00:00:00+00:00]" in context.text
    assert context.text.index("Relevant earlier turns:") < context.text.index(
        "Recent conversation:"
    )

    tight = tenant.context(
        AGENT, "U1", "what does Pixel like to eat?", recent=5, k=3, max_tokens=40
    )
    assert tight.tokens <= 40
    assert tight.recent and tight.recent[-1].id == context.recent[-1].id, "newest turn kept"
    tiny = tenant.context(AGENT, "U1", "Pixel", recent=5, k=3, max_tokens=3)
    assert tiny.tokens <= 3


def test_context_on_an_empty_memory(tenant: TenantMemory) -> None:
    context = tenant.context(AGENT, "nobody", "hello?")
    assert context.recent == [] and context.recalled == [] and context.text == ""


def test_context_recalls_k_older_turns_beyond_a_large_window(tenant: TenantMemory) -> None:
    tenant.remember(turns(150))
    context = tenant.context(AGENT, "U1", "topic 3", recent=120, k=5)
    assert len(context.recent) == 120 and len(context.recalled) == 5
    assert {h.id for h in context.recalled}.isdisjoint({t.id for t in context.recent})


def test_scores_have_a_fixed_scale_and_say_what_they_are_made_of(
    tenant: TenantMemory,
) -> None:
    said = [
        ("We adopted a greyhound called Comet", datetime(2023, 5, 10, tzinfo=UTC)),
        ("Comet ran on the beach", datetime(2023, 6, 2, tzinfo=UTC)),
        ("The greyhound sleeps all day", datetime(2023, 9, 1, tzinfo=UTC)),
        ("Tax forms are due", datetime(2023, 5, 20, tzinfo=UTC)),
    ]
    tenant.remember(
        [
            {"agent_id": AGENT, "user_id": "U1", "role": "user", "content": c, "occurred_at": t}
            for c, t in said
        ]
    )
    plain = tenant.recall(AGENT, "U1", "greyhound called Comet", k=4)
    assert plain[0].content == said[0][0] and plain[0].score == pytest.approx(1.0)
    assert all(0.0 <= hit.score <= 1.0 for hit in plain)
    best = plain[0].parts
    assert best is not None and best.vector == 1.0 and best.keyword == 1.0 and best.act == 1.0
    assert best.similarity is not None and 0 < best.similarity <= 1 and not best.month
    unrelated = next(hit for hit in plain if hit.content == said[3][0])
    assert unrelated.score == 0.0, "nothing in common with the query scores 0"
    dated = tenant.recall(AGENT, "U1", "What happened with the greyhound in May 2023?", k=4)
    months = {hit.content: hit.parts.month for hit in dated if hit.parts is not None}
    # The cue moves relevant turns of May and June only; unrelated turns stay at 0.
    assert months == {said[0][0]: True, said[1][0]: False, said[2][0]: False, said[3][0]: False}
    assert all(0.0 <= hit.score <= 1.0 for hit in dated)


def test_the_same_match_scores_the_same_in_a_scope_of_any_size(tenant: TenantMemory) -> None:
    """A score is the turn's own: other turns of the scope neither raise nor lower it."""
    fact = "the spare key hides under the blue flowerpot"
    filler = [f"weekend plans number {i} with friends" for i in range(40)]
    for user, contents in (("small", [fact]), ("large", [*filler[:20], fact, *filler[20:]])):
        tenant.remember(
            [
                {
                    "agent_id": AGENT,
                    "user_id": user,
                    "role": "user",
                    "content": c,
                    "occurred_at": T0 + timedelta(minutes=i),
                }
                for i, c in enumerate(contents)
            ]
        )
    scores = {
        user: tenant.recall(AGENT, user, "spare key flowerpot", k=1)[0].score
        for user in ("small", "large")
    }
    assert scores["small"] == scores["large"] > 0
    unrelated = tenant.recall(AGENT, "large", "tax return deadline", k=1)
    assert unrelated[0].score == 0.0, "an unrelated query's best hit is not a match"


@pytest.fixture
def narrow_memory(database: DatabaseUnderTest) -> Iterator[Memory]:
    """Recall with five vector and five keyword candidates: most turns of a scope are out."""
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    tuning = RecallTuning(vector_candidates=5, keyword_candidates=5)
    with Memory.open(settings, embedder=BagOfWordsEmbedder(), tuning=tuning) as memory:
        yield memory


def test_a_day_the_query_names_brings_its_turns_in(narrow_memory: Memory) -> None:
    tenant = narrow_memory.tenant(narrow_memory.create_tenant("days").id)
    said = [
        {
            "agent_id": AGENT,
            "user_id": "U1",
            "role": "user",
            "content": f"the greyhound ran on the beach again, walk {i}",
            "occurred_at": datetime(2023, 4, 1, 9, tzinfo=UTC) + timedelta(days=i),
        }
        for i in range(40)
    ]
    # Long and mostly about other things: far from the query by meaning and by words.
    on_the_day = (
        "a vet visit for our greyhound, then lunch at the harbour, a long chat about taxes, "
        "shopping for shoes, a concert ticket"
    )
    said.append(
        {
            "agent_id": AGENT,
            "user_id": "U1",
            "role": "user",
            "content": on_the_day,
            # Late on 3 June west of Greenwich: already 4 June in UTC.
            "occurred_at": datetime(2023, 6, 4, 3, tzinfo=UTC),
        }
    )
    tenant.remember(said)
    query = "What happened to the greyhound on 3 June, 2023?"
    hits = tenant.recall(AGENT, "U1", query, k=3)
    assert hits[0].content == on_the_day
    assert hits[0].parts is not None and hits[0].parts.day and hits[0].parts.month
    assert not any(hit.parts and hit.parts.day for hit in hits[1:])
    across = tenant.recall_across_users(AGENT, "the greyhound on June 3rd", k=3)
    assert across[0].content == on_the_day, "a day named without its year: any year"
    undated = tenant.recall(AGENT, "U1", "What happened to the greyhound?", k=5)
    assert on_the_day not in [hit.content for hit in undated], "outside the candidates"
