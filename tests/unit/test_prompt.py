"""The prompt block: order, headers and the token budget, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from konstruct_memory.engine.prompt import (
    RECALLED_HEADER,
    RECENT_HEADER,
    TokenCounter,
    render_context,
)
from konstruct_memory.operations import Hit, StoredTurn

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def stored(i: int, content: str) -> StoredTurn:
    return StoredTurn(
        id=uuid.uuid4(),
        agent_id=uuid.uuid4(),
        user_id="U1",
        role="user" if i % 2 == 0 else "assistant",
        content=content,
        conversation_id=None,
        occurred_at=T0 + timedelta(days=i),
        created_at=T0,
        metadata={},
    )


def hit(i: int, content: str, score: float) -> Hit:
    return Hit(
        id=uuid.uuid4(),
        user_id="U1",
        role="user",
        content=content,
        occurred_at=T0 + timedelta(days=i),
        conversation_id=None,
        score=score,
    )


def test_recalled_turns_come_first_in_time_order_then_the_recent_window(
    counter: TokenCounter,
) -> None:
    context = render_context(
        [stored(10, "how are you"), stored(11, "fine")],
        [hit(5, "later fact", 0.9), hit(2, "earlier fact", 0.5)],
        None,
        counter,
    )
    text = context.text
    assert text.index(RECALLED_HEADER) < text.index(RECENT_HEADER)
    assert text.index("earlier fact") < text.index("later fact")
    assert "[2026-01-12T00:00:00+00:00] assistant: fine" in text
    assert context.tokens == counter.count(text)


def test_the_budget_drops_the_least_relevant_then_the_oldest(counter: TokenCounter) -> None:
    recent = [stored(i, f"recent message number {i}") for i in range(5)]
    recalled = [hit(0, "best match", 0.9), hit(1, "weak match", 0.1)]
    full = render_context(recent, recalled, None, counter)
    fitted = render_context(recent, recalled, full.tokens - 5, counter)
    assert [h.content for h in fitted.recalled] == ["best match"]
    tight = render_context(recent, recalled, 12, counter)
    assert tight.recalled == [] and tight.recent == recent[-1:] and tight.tokens <= 12


def test_empty_memory_gives_an_empty_block(counter: TokenCounter) -> None:
    assert render_context([], [], 100, counter).text == ""
