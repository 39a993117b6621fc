"""Ranking decisions, each on its own: fusion, lending to neighbours, ties."""

from __future__ import annotations

import uuid

import pytest

from konstruct_memory.engine import ranking
from konstruct_memory.engine.ranking import RecallTuning

A, B, C, D = (uuid.UUID(int=i) for i in range(1, 5))


def test_fusion_rewards_agreement_and_the_head_of_each_list() -> None:
    scores = ranking.fuse(RecallTuning(rrf_k=10), [(A, 0.9), (B, 0.8)], [(B, 3.0), (C, 1.0)])
    assert scores[B] == pytest.approx(1 / 12 + 1 / 11)
    assert scores[A] == pytest.approx(1 / 11) and scores[C] == pytest.approx(1 / 12)
    assert ranking.top(scores, 3, {}) == [B, A, C]


def test_weights_scale_a_signal() -> None:
    tuning = RecallTuning(vector_weight=0.0, keyword_weight=2.0)
    scores = ranking.fuse(tuning, [(A, 0.9)], [(C, 1.0)])
    assert scores[A] == 0 and scores[C] == pytest.approx(2 / 11)


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
