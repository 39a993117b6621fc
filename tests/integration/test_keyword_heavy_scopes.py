"""The keyword stage's window: it searches a scope's most recent ``RecallTuning.keyword_window``
turns (said in every hit's parts when the scope holds more), and a scope of no more turns ranks
as if there were no window. The window is lowered here so that 40 turns make a heavy scope;
recall runs as the runtime role."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from konstruct_memory.engine.ranking import RecallTuning
from konstruct_memory.library import Memory, TenantMemory

AGENT = uuid.UUID("33333333-3333-4333-8333-333333333333")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TURNS = 40
OLD, RECENT = "we flew to zanzibar with tea", "tea again, back from zanzibar"


def remember_scope(tenant: TenantMemory, user: str) -> None:
    """``TURNS`` turns, all holding "tea"; "zanzibar" in the oldest and in the most recent."""
    contents = [OLD] + [f"tea number {i} was hot" for i in range(TURNS - 2)] + [RECENT]
    tenant.remember(
        [
            {
                "agent_id": AGENT,
                "user_id": user,
                "role": "user",
                "content": text,
                "occurred_at": T0 + timedelta(minutes=i),
            }
            for i, text in enumerate(contents)
        ]
    )


def windowed(memory: Memory, tenant: TenantMemory, window: int) -> TenantMemory:
    tuning = RecallTuning(keyword_window=window)
    return Memory(replace(memory.resources, tuning=tuning)).tenant(tenant.tenant_id)


def idf(holders: int, turns: int) -> float:
    return math.log(1 + (turns - holders + 0.5) / (holders + 0.5))


def test_scope_within_the_window_ranks_as_without_one(memory: Memory, tenant: TenantMemory) -> None:
    remember_scope(tenant, "U1")
    query = "tea in zanzibar"
    default = tenant.recall(AGENT, "U1", query, k=TURNS)
    at_window = windowed(memory, tenant, TURNS).recall(AGENT, "U1", query, k=TURNS)
    assert [(h.id, h.score, h.parts) for h in at_window] == [
        (h.id, h.score, h.parts) for h in default
    ]
    assert all(h.parts.keyword_window is None for h in default)
    # Both "zanzibar" turns hold the whole query; the rest hold "tea", weighed on all 40 turns.
    assert {h.content for h in default[:2]} == {OLD, RECENT}
    tea, zanzibar = idf(TURNS, TURNS), idf(2, TURNS)
    assert default[0].parts.keyword == pytest.approx(1.0)
    assert default[2].parts.keyword == pytest.approx(tea / (tea + zanzibar))


def test_heavy_scope_searches_its_most_recent_turns(memory: Memory, tenant: TenantMemory) -> None:
    remember_scope(tenant, "U1")
    hits = windowed(memory, tenant, 10).recall(AGENT, "U1", "tea in zanzibar", k=TURNS)
    assert len(hits) == TURNS  # the vector stage still searches every turn
    assert all(h.parts.keyword_window == 10 for h in hits)
    assert hits[0].content == RECENT and hits[0].parts.keyword == pytest.approx(1.0)
    # Weights are counted within the window: "zanzibar" held by 1 of 10, "tea" by all. The
    # turns older than the window that the vector stage found are scored by the same weights:
    # the oldest holds both words, like the most recent.
    tea, zanzibar = idf(10, 10), idf(1, 10)
    assert hits[1].content == OLD and hits[1].parts.keyword == pytest.approx(1.0)
    assert all(h.parts.keyword == pytest.approx(tea / (tea + zanzibar)) for h in hits[2:])


def test_window_counts_the_scope_searched(memory: Memory, tenant: TenantMemory) -> None:
    remember_scope(tenant, "U1")
    remember_scope(tenant, "U2")
    heavy = windowed(memory, tenant, TURNS)
    # One user's 40 turns fit the window; the agent's 80 across users do not.
    assert heavy.recall(AGENT, "U1", "zanzibar", k=3)[0].parts.keyword_window is None
    across = heavy.recall_across_users(AGENT, "zanzibar", k=3)
    assert all(h.parts.keyword_window == TURNS for h in across)
    assert [h.content for h in across[:2]] == [RECENT, RECENT]
