"""Ranking decisions, each on its own: fusion, lending to neighbours, ties."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from konstruct_memory.engine import ranking
from konstruct_memory.engine.ranking import RecallTuning

A, B, C, D = (uuid.UUID(int=i) for i in range(1, 5))


def test_rank_fusion_rewards_agreement_and_the_head_of_each_list() -> None:
    tuning = RecallTuning(fusion="rrf", rrf_k=10, keyword_weight=1.0)
    scores = ranking.fuse(tuning, [(A, 0.9), (B, 0.8)], [(B, 3.0), (C, 1.0)])
    assert scores[B] == pytest.approx(1 / 12 + 1 / 11)
    assert scores[A] == pytest.approx(1 / 11) and scores[C] == pytest.approx(1 / 12)
    assert ranking.top(scores, 3, {}) == [B, A, C]


def test_weights_scale_a_signal() -> None:
    tuning = RecallTuning(fusion="rrf", vector_weight=0.0, keyword_weight=2.0)
    scores = ranking.fuse(tuning, [(A, 0.9)], [(C, 1.0)])
    assert scores[A] == 0 and scores[C] == pytest.approx(2 / 11)


def test_linear_fusion_normalises_each_list_and_weighs_keywords_twice() -> None:
    by_vector = [(A, 0.9), (B, 0.5), (C, 0.4)]  # cosine similarities
    by_keyword = [(C, 12.0), (D, 6.0), (B, 2.0)]  # summed idf: another scale entirely
    scores = ranking.fuse(RecallTuning(), by_vector, by_keyword)
    assert scores[A] == pytest.approx(1 / 3)  # best vector, no keyword
    assert scores[C] == pytest.approx(2 / 3)  # worst vector, best keyword
    assert scores[D] == pytest.approx(2 / 3 * 0.4)
    assert scores[B] == pytest.approx(1 / 3 * 0.2)
    assert all(0.0 <= s <= 1.0 for s in scores.values())


def test_a_named_month_boosts_that_month_and_the_next() -> None:
    assert ranking.months_named("What did she do in May 2023?") == [(5, 2023)]
    assert ranking.months_named("When in early Sept. or October?") == [(9, None), (10, None)]
    assert ranking.months_named("you may march on") == [], "verbs, not months"
    when = {
        A: datetime(2023, 5, 20, tzinfo=UTC),
        B: datetime(2023, 6, 2, tzinfo=UTC),
        C: datetime(2023, 7, 1, tzinfo=UTC),
        D: datetime(2024, 5, 1, tzinfo=UTC),
    }
    assert ranking.in_named_months(when, [(5, 2023)]) == {A, B}
    assert ranking.in_named_months(when, [(5, None)]) == {A, B, D}
    assert ranking.in_named_months({A: datetime(2024, 1, 3, tzinfo=UTC)}, [(12, 2023)]) == {A}
    scores = dict.fromkeys(when, 0.5)
    assert ranking.boost(scores, {A, B}, 2.0) == {A: 1.0, B: 1.0, C: 0.5, D: 0.5}


def test_the_bound_makes_every_score_a_share_of_the_best_possible() -> None:
    assert ranking.score_bound(RecallTuning(), month_named=False) == 1.0
    assert ranking.score_bound(RecallTuning(month_boost=2.0), month_named=True) == 2.0
    rrf = RecallTuning(fusion="rrf", rrf_k=10, vector_weight=1, keyword_weight=1)
    scores = ranking.fuse(rrf, [(A, 0.9)], [(A, 3.0)])
    assert scores[A] / ranking.score_bound(rrf, month_named=False) == pytest.approx(1.0)


def test_neighbours_borrow_a_share_but_never_lower_a_score() -> None:
    scores = {A: 1.0, B: 0.8}
    lent = ranking.spread_to_neighbours(scores, [(A, C, 1), (A, B, -1)], share=0.5)
    assert lent == {A: 1.0, B: 0.8, C: 0.5}


def test_lending_only_within_one_user() -> None:
    assert RecallTuning().lends_to_neighbours(within_one_user=True)
    assert not RecallTuning().lends_to_neighbours(within_one_user=False)
    assert not RecallTuning(neighbour_share=0).lends_to_neighbours(within_one_user=True)


def test_ties_go_to_the_more_recent_turn_then_the_id() -> None:
    scores = {A: 1.0, B: 1.0, C: 1.0, D: 2.0}
    assert ranking.top(scores, 4, {A: 1.0, B: 3.0, C: 1.0}) == [D, B, A, C]
    assert len(ranking.lenders(dict.fromkeys(range(30), 1.0), k=5)) == ranking.LENDERS  # type: ignore[arg-type]
