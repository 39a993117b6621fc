"""Ranking decisions, each on its own: the fixed scale, dialogue acts, lending, the month cue,
ties. The invariants over random scopes are in test_ranking_properties.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from konstruct_memory.engine import date_cues, ranking
from konstruct_memory.engine.ranking import Candidate, RecallTuning, Scored

A, B, C, D = (uuid.UUID(int=i) for i in range(1, 5))
T0 = datetime(2026, 3, 1, tzinfo=UTC)
TUNING = RecallTuning()


def test_the_vector_signal_is_a_fixed_scale_of_the_cosine() -> None:
    floor, full = TUNING.similarity_floor, TUNING.similarity_full
    assert ranking.vector_signal(floor - 0.1, TUNING) == 0.0
    assert ranking.vector_signal(floor, TUNING) == 0.0
    assert ranking.vector_signal((floor + full) / 2, TUNING) == pytest.approx(0.5)
    assert ranking.vector_signal(full, TUNING) == 1.0
    assert ranking.vector_signal(0.99, TUNING) == 1.0
    assert ranking.vector_signal(None, TUNING) == 0.0


def test_own_relevance_weighs_keyword_coverage_and_ignores_everything_else() -> None:
    assert ranking.own_relevance(0.1, 0.0, TUNING) == 0.0, "under the floor, no keyword"
    assert ranking.own_relevance(0.9, 1.0, TUNING) == 1.0
    semantic_only = ranking.own_relevance(0.9, 0.0, TUNING)
    assert semantic_only == pytest.approx(1 / (1 + TUNING.keyword_weight))
    both = ranking.own_relevance(0.4, 0.5, TUNING)
    assert both > ranking.own_relevance(0.4, 0.0, TUNING)
    assert both > ranking.own_relevance(0.3, 0.5, TUNING)


def test_a_keyword_without_meaning_in_common_counts_for_little_but_not_nothing() -> None:
    coincidence = ranking.own_relevance(0.0, 0.5, TUNING)  # "uses" in a recipe
    meant = ranking.own_relevance(TUNING.similarity_floor, 0.5, TUNING)
    assert 0 < coincidence == pytest.approx(meant * ranking.COINCIDENCE_SHARE)


def test_questions_and_short_replies() -> None:
    assert ranking.is_question("Can you suggest a name for our puppy?")
    assert ranking.is_question("Really? Where did you go?")
    assert not ranking.is_question("We went to Porto. Have you been?")
    assert not ranking.is_question("")
    assert ranking.is_short("Nice car! Volvos last forever.")
    assert not ranking.is_short(" ".join(["word"] * (ranking.REACTION_WORDS + 1)))


def candidate(text: str, similarity: float, speaker: str = "user", minutes: int = 0) -> Candidate:
    return Candidate(similarity, 0.0, speaker, text, T0 + timedelta(minutes=minutes))


def test_a_question_and_a_reaction_to_a_relevant_statement_are_discounted() -> None:
    candidates = {
        A: candidate("My cat is called Quetzalcoatl.", 0.5),
        B: candidate("Noted, I will remember your cat's name.", 0.5, "assistant", 1),
        C: candidate("What should I feed her?", 0.5, "user", 2),
        D: candidate("Salmon, in small amounts, is a treat cats love.", 0.5, "assistant", 3),
    }
    own = {i: ranking.own_relevance(c.similarity, 0.0, TUNING) for i, c in candidates.items()}
    factors = ranking.act_factors(own, candidates, {B: A, C: B, D: C}, TUNING)
    assert factors == {
        A: 1.0,
        B: TUNING.reaction_factor,  # the assistant's short reply to a relevant statement
        C: TUNING.question_factor,
        D: 1.0,  # answers a question: not a reaction
    }
    unrelated = dict(own) | {A: 0.0}
    assert ranking.act_factors(unrelated, candidates, {B: A}, TUNING)[B] == 1.0
    # The user's short reply to the assistant adds a fact of the user's: no reaction.
    turns = {
        A: candidate("Lovely! How is Biscuit settling in?", 0.3, "assistant"),
        B: candidate("Great, though he chews every shoe in the house.", 0.5, "user", 1),
    }
    own = {i: ranking.own_relevance(c.similarity, 0.0, TUNING) for i, c in turns.items()}
    assert ranking.act_factors(own, turns, {B: A}, TUNING)[B] == 1.0


def test_a_turn_borrows_a_share_of_the_gap_to_its_better_neighbour() -> None:
    tuning = RecallTuning(reply_share=0.6, neighbour_share=0.8)
    scores = {A: 0.2, B: 0.6, C: 0.1, D: 0.0}
    # A is just before B (B is its reply), C just after, D two after.
    lent, borrowed = ranking.lend(scores, [(B, A, -1), (B, C, 1), (B, D, 2)], tuning)
    assert lent[A] == pytest.approx(0.2 + 0.6 * 0.4)
    assert lent[C] == pytest.approx(0.1 + 0.8 * 0.5)
    assert lent[B] == 0.6 and lent[D] == 0.0, "no own relevance: no score, only a place"
    assert borrowed[D] == pytest.approx(0.4 * 0.6)


def test_a_named_month_moves_relevant_turns_of_that_month_and_the_next() -> None:
    assert date_cues.months_named("What did she do in May 2023?") == [(5, 2023)]
    assert date_cues.months_named("When in early Sept. or October?") == [(9, None), (10, None)]
    assert date_cues.months_named("you may march on") == [], "verbs, not months"
    when = {
        A: datetime(2023, 5, 20, tzinfo=UTC),
        B: datetime(2023, 6, 2, tzinfo=UTC),
        C: datetime(2023, 7, 1, tzinfo=UTC),
        D: datetime(2024, 5, 1, tzinfo=UTC),
    }
    assert date_cues.in_named_months(when, [(5, 2023)]) == {A, B}
    assert date_cues.in_named_months(when, [(5, None)]) == {A, B, D}
    assert date_cues.in_named_months({A: datetime(2024, 1, 3, tzinfo=UTC)}, [(12, 2023)]) == {A}
    moved = date_cues.month_cue({A: 0.5, B: 0.0, C: 0.5}, {A, B}, share=0.3)
    assert moved == {A: pytest.approx(0.65), B: 0.0, C: 0.5}


def test_a_named_day_is_read_in_the_usual_spellings_and_only_when_it_exists() -> None:
    Day = date_cues.Day
    assert date_cues.days_named("What did Gina find on 1 February, 2023?") == [Day(2, 1, 2023)]
    assert date_cues.days_named("Who came on May 3, 2023 and Oct. 2nd?") == [
        Day(5, 3, 2023),
        Day(10, 2, None),
    ]
    assert date_cues.days_named("the 4th of July") == [Day(7, 4, None)]
    assert date_cues.days_named("on 31 June or 30 February") == [], "no such days"
    assert date_cues.days_named("you may 3 times") == [], "a verb, not a month"
    assert date_cues.days_named("in May 2023") == [], "a month, not a day"


def test_a_named_day_spans_every_time_zone_and_moves_its_relevant_turns() -> None:
    named = date_cues.Day(6, 3, 2023)
    [(start, end)] = date_cues.day_spans(named, [1999])
    assert start == datetime(2023, 6, 2, 10, tzinfo=UTC), "3 June starts at UTC+14"
    assert end == datetime(2023, 6, 4, 12, tzinfo=UTC), "and ends at UTC-12"
    assert len(date_cues.day_spans(date_cues.Day(2, 29, None), range(2023, 2029))) == 2
    when = {
        A: datetime(2023, 6, 3, 23, tzinfo=UTC),
        B: datetime(2023, 6, 4, 13, tzinfo=UTC),
        C: datetime(2024, 6, 3, 8, tzinfo=UTC),
        D: datetime(2022, 12, 31, 20, tzinfo=UTC),
    }
    assert date_cues.in_named_days(when, [named]) == {A}
    assert date_cues.in_named_days(when, [date_cues.Day(6, 3, None)]) == {A, C}
    assert date_cues.in_named_days(when, [date_cues.Day(1, 1, None)]) == {D}, "across New Year"
    candidates = {
        i: Candidate(similarity=0.45, keyword=0.0, speaker="user", text="We met.", when=at)
        for i, at in when.items()
    }
    tuning = RecallTuning()
    scored = ranking.score_candidates(candidates, [], [], tuning, days=[named])
    assert scored[A].day and not scored[B].day
    plain = ranking.own_relevance(0.45, 0.0, tuning)
    assert scored[B].score == pytest.approx(plain)
    assert scored[A].score == pytest.approx(plain + (1 - plain) * tuning.day_share)


def test_ties_go_to_own_relevance_then_to_the_newer_turn() -> None:
    scored = {
        A: Scored(0.5, own=0.5, act=1.0, borrowed=0.0, month=False),
        B: Scored(0.5, own=0.3, act=1.0, borrowed=0.2, month=False),
        C: Scored(0.5, own=0.3, act=1.0, borrowed=0.2, month=False),
        D: Scored(0.0, own=0.0, act=1.0, borrowed=0.4, month=False),
    }
    when = {A: T0, B: T0, C: T0 + timedelta(minutes=1), D: T0 + timedelta(minutes=2)}
    assert ranking.top(scored, when, 4) == [A, C, B, D]
    assert ranking.top(scored, when, 2) == [A, C]


def test_lending_only_within_one_user() -> None:
    assert RecallTuning().lends_to_neighbours(within_one_user=True)
    assert not RecallTuning().lends_to_neighbours(within_one_user=False)
    no_lending = RecallTuning(neighbour_share=0, reply_share=0)
    assert not no_lending.lends_to_neighbours(within_one_user=True)


def test_lenders_are_relevant_turns_only() -> None:
    scores = {uuid.UUID(int=i): (1.0 if i < 30 else 0.0) for i in range(40)}
    chosen = ranking.lenders(scores, k=5)
    assert len(chosen) == ranking.LENDERS and all(scores[i] > 0 for i in chosen)


@pytest.mark.parametrize(
    "text",
    [
        "Actually the budget review moved to Thursday at 11.",
        "Oops, wrong date, the dentist is on the 19th.",
        "The plumber rescheduled, he comes Friday afternoon instead.",
        "Diane left the company, Marcus Webb is my boss now.",
        "I no longer work at the bakery.",
    ],
)
def test_revisions_are_told_by_their_words(text: str) -> None:
    assert ranking.says_revision(text)


@pytest.mark.parametrize(
    "text",
    ["The budget review is on Wednesday at 3pm.", "I know the answer.", "Snowy mornings."],
)
def test_statements_are_not_revisions(text: str) -> None:
    # "know" and "snowy" hold "now" inside a word: only whole words count.
    assert not ranking.says_revision(text)
