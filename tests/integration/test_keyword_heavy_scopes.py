"""The keyword stage's bounds: a scope of up to ``RecallTuning.keyword_exact_turns`` turns is
read whole; a larger one is searched through its postings, every turn of it, the lexemes held
by too many of its turns pruned (said in every hit's parts) with their weight kept in the
total. The bound is lowered here so that 40 turns make a heavy scope; recall runs as the
runtime role."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from konstruct_memory.engine.ranking import RecallTuning
from konstruct_memory.library import Memory, TenantMemory

AGENT = uuid.UUID("33333333-3333-4333-8333-333333333333")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TURNS = 40
OLD, RECENT = "we flew to zanzibar with tea", "tea again, back from zanzibar"


def remember_scope(tenant: TenantMemory, user: str) -> None:
    """``TURNS`` turns, all holding "tea"; "zanzibar" in the oldest and in the most recent,
    the oldest the assistant's."""
    contents = [OLD] + [f"tea number {i} was hot" for i in range(TURNS - 2)] + [RECENT]
    tenant.remember(
        [
            {
                "agent_id": AGENT,
                "user_id": user,
                "role": "assistant" if i == 0 else "user",
                "content": text,
                "occurred_at": T0 + timedelta(minutes=i),
            }
            for i, text in enumerate(contents)
        ]
    )


def bounded(memory: Memory, tenant: TenantMemory, **bounds: Any) -> TenantMemory:
    tuning = RecallTuning(**bounds)
    return Memory(replace(memory.resources, tuning=tuning)).tenant(tenant.tenant_id)


def idf(holders: int, turns: int) -> float:
    return math.log(1 + (turns - holders + 0.5) / (holders + 0.5))


def test_a_scope_within_the_bound_is_read_whole(memory: Memory, tenant: TenantMemory) -> None:
    remember_scope(tenant, "U1")
    query = "tea in zanzibar"
    default = tenant.recall(AGENT, "U1", query, k=TURNS)
    at_bound = bounded(memory, tenant, keyword_exact_turns=TURNS).recall(
        AGENT, "U1", query, k=TURNS
    )
    assert [(h.id, h.score, h.parts) for h in at_bound] == [
        (h.id, h.score, h.parts) for h in default
    ]
    assert all(h.parts.keyword_pruned is None for h in default)
    assert {h.content for h in default[:2]} == {OLD, RECENT}
    tea, zanzibar = idf(TURNS, TURNS), idf(2, TURNS)
    assert default[0].parts.keyword == pytest.approx(1.0)
    assert default[2].parts.keyword == pytest.approx(tea / (tea + zanzibar))


def test_postings_rank_a_heavy_scope_as_reading_it_would(
    memory: Memory, tenant: TenantMemory
) -> None:
    remember_scope(tenant, "U1")
    query = "tea in zanzibar"
    exact = tenant.recall(AGENT, "U1", query, k=TURNS)
    heavy = bounded(memory, tenant, keyword_exact_turns=10, keyword_postings=1_000)
    through_postings = heavy.recall(AGENT, "U1", query, k=TURNS)
    assert [h.id for h in through_postings] == [h.id for h in exact]
    assert [h.score for h in through_postings] == pytest.approx([h.score for h in exact])
    keyword = [h.parts.keyword for h in through_postings]
    assert keyword == pytest.approx([h.parts.keyword for h in exact])
    assert all(h.parts.keyword_pruned is None for h in through_postings)


def test_common_lexemes_are_pruned_and_keep_their_weight(
    memory: Memory, tenant: TenantMemory
) -> None:
    remember_scope(tenant, "U1")
    # 5 postings may be read: zanzibar's 2 are, tea's 40 are not.
    heavy = bounded(memory, tenant, keyword_exact_turns=10, keyword_postings=5)
    hits = heavy.recall(AGENT, "U1", "tea in zanzibar", k=TURNS)
    assert len(hits) == TURNS  # the vector stage still searches every turn
    assert all(h.parts.keyword_pruned == ["tea"] for h in hits)
    # The oldest turn is found by its words, as the most recent is; both hold every lexeme.
    assert {h.content for h in hits[:2]} == {OLD, RECENT}
    assert all(h.parts.keyword == pytest.approx(1.0) for h in hits[:2])
    # tea was counted up to the cap (5 here) and weighs as if held by 5 of the 40 turns; the
    # turns holding only tea, found by the vector stage, are scored by that weight.
    tea, zanzibar = idf(5, TURNS), idf(2, TURNS)
    assert all(h.parts.keyword == pytest.approx(tea / (tea + zanzibar)) for h in hits[2:])


def test_postings_honour_the_filters(memory: Memory, tenant: TenantMemory) -> None:
    remember_scope(tenant, "U1")
    heavy = bounded(memory, tenant, keyword_exact_turns=10, keyword_postings=5)
    query = "tea in zanzibar"
    users = heavy.recall(AGENT, "U1", query, k=5, roles=["user"])
    assert users[0].content == RECENT and {h.role for h in users} == {"user"}
    assistant = heavy.recall(AGENT, "U1", query, k=5, roles=["assistant"])
    assert [h.content for h in assistant] == [OLD]
    later = heavy.recall(AGENT, "U1", query, k=5, since=T0 + timedelta(minutes=30))
    assert later[0].content == RECENT
    assert all(h.occurred_at >= T0 + timedelta(minutes=30) for h in later)
    stored = heavy.recall(AGENT, "U1", query, k=TURNS, as_of=datetime(2000, 1, 1, tzinfo=UTC))
    assert stored == []


def test_the_bound_counts_the_scope_searched(memory: Memory, tenant: TenantMemory) -> None:
    remember_scope(tenant, "U1")
    remember_scope(tenant, "U2")
    heavy = bounded(memory, tenant, keyword_exact_turns=TURNS, keyword_postings=5)
    # One user's 40 turns are within the bound; the agent's 80 across users are not.
    assert heavy.recall(AGENT, "U1", "tea zanzibar", k=3)[0].parts.keyword_pruned is None
    across = heavy.recall_across_users(AGENT, "tea zanzibar", k=4)
    assert all(h.parts.keyword_pruned == ["tea"] for h in across)
    assert sorted(h.content for h in across) == sorted([OLD, OLD, RECENT, RECENT])
