"""The answer first, with the real model, on the small scopes agents see most: a fact and an
assistant's acknowledgement that echoes it, a question the assistant answered, an unrelated
query. Scores keep one meaning: nothing in common scores 0, whatever the scope."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from konstruct_memory.config import Settings
from konstruct_memory.embed.local import LocalEmbedder
from konstruct_memory.embed.model_files import package_copy
from konstruct_memory.library import Memory, TenantMemory
from tests.conftest import DatabaseUnderTest

AGENT = uuid.uuid4()
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def tenant(database: DatabaseUnderTest) -> Iterator[TenantMemory]:
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    with Memory.open(settings, embedder=LocalEmbedder(package_copy())) as memory:
        yield memory.tenant(memory.create_tenant("answer-first").id)


def said(tenant: TenantMemory, user: str, *turns: tuple[str, str]) -> None:
    tenant.remember(
        [
            {
                "agent_id": AGENT,
                "user_id": user,
                "role": role,
                "content": content,
                "occurred_at": T0 + timedelta(minutes=i),
            }
            for i, (role, content) in enumerate(turns)
        ]
    )


def test_the_fact_comes_before_the_acknowledgement_that_echoes_it(tenant: TenantMemory) -> None:
    fact = "My cat is called Quetzalcoatl and she hates the vet."
    said(
        tenant,
        "cat",
        ("user", fact),
        ("assistant", "Noted, I will remember your cat's name."),
        ("user", "The quarterly budget review is on Thursday at 3pm."),
    )
    hits = tenant.recall(AGENT, "cat", "what is my pet's name?", k=3)
    assert hits[0].content == fact
    assert hits[-1].content.startswith("The quarterly budget review")
    assert hits[-1].score == 0.0, "cosine under the floor and no keyword: no relevance"


def test_unrelated_turns_score_zero_beside_the_answer(tenant: TenantMemory) -> None:
    said(
        tenant,
        "wifi",
        ("user", "The office wifi password is on the fridge"),
        ("assistant", "Thanks, noted."),
        ("user", "My daughter starts school in September."),
    )
    hits = tenant.recall(AGENT, "wifi", "where is the wifi password?", k=3)
    assert hits[0].content == "The office wifi password is on the fridge"
    assert hits[0].score > 0.5
    assert [hit.score for hit in hits[1:]] == [0.0, 0.0]
    assert tenant.recall(AGENT, "wifi", "where is the wifi password?", k=3, min_score=0.01) == [
        hits[0]
    ]


def test_the_assistants_answer_comes_before_the_question_it_answered(
    tenant: TenantMemory,
) -> None:
    answer = "Try the cat-cow: on all fours, slowly arch and round your spine for a minute."
    said(
        tenant,
        "back",
        ("user", "Good morning!"),
        ("assistant", "Good morning! How can I help today?"),
        ("user", "What's a good stretch for lower back pain?"),
        ("assistant", answer),
        ("user", "Thanks, that's all for now."),
    )
    hits = tenant.recall(AGENT, "back", "Which exercise did you recommend for my sore back?", k=3)
    assert hits[0].content == answer


def test_an_unrelated_query_finds_nothing_that_scores(tenant: TenantMemory) -> None:
    said(
        tenant,
        "dog",
        ("user", "We adopted a golden retriever called Biscuit last spring."),
        ("assistant", "Lovely! How is Biscuit settling in?"),
        ("user", "Great, though he chews every shoe in the house."),
    )
    assert tenant.recall(AGENT, "dog", "what is my dog called?", k=1)[0].score > 0.3
    unrelated = tenant.recall(AGENT, "dog", "how do I fix a flat bicycle tyre?", k=3)
    assert len(unrelated) == 3 and all(hit.score == 0.0 for hit in unrelated)


def test_a_correction_comes_before_the_statement_it_corrects(tenant: TenantMemory) -> None:
    said(
        tenant,
        "review",
        ("user", "The quarterly budget review is on Wednesday at 3pm."),
        ("assistant", "Got it, I'll remember the budget review."),
        ("user", "Can you suggest a lunch place near the office?"),
        ("assistant", "The noodle bar on the corner is quick and good."),
        ("user", "Actually the budget review moved to Thursday at 11."),
    )
    hits = tenant.recall(AGENT, "review", "When is the meeting about finances this quarter?", k=3)
    assert hits[0].content.startswith("Actually the budget review moved")
    assert hits[0].parts.correction > 0
    stale = next(hit for hit in hits if hit.content.startswith("The quarterly budget review"))
    assert stale.parts.corrected and stale.parts.act < 1.0


def test_a_later_turn_on_the_same_topic_without_a_revision_corrects_nothing(
    tenant: TenantMemory,
) -> None:
    said(
        tenant,
        "garden",
        ("user", "I planted tomatoes in the back garden in May."),
        ("assistant", "Lovely, tomatoes love the sun."),
        ("user", "The tomatoes in the back garden are growing fast."),
    )
    hits = tenant.recall(AGENT, "garden", "what did I plant in the garden?", k=3)
    assert not any(hit.parts.corrected or hit.parts.correction for hit in hits)
