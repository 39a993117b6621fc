"""How recall ranks: every decision, as pure functions over ids and scores.

Measured on the LoCoMo dev conversations (``bench/retrieval_quality.py``); every step here
earned its place there. ``engine.recall`` fetches what these functions need and nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

# Reciprocal-rank fusion constant. The usual 60 flattens the head of each list; with 10 the
# top ranks of either signal count, and lending to neighbours then pulls in the turns around
# the strongest matches (LoCoMo dev recall@10: 0.64 at 40, 0.70 at 20, 0.75 at 10, 0.76 at 5).
RRF_K = 10.0
# How many of the best fused turns lend to their neighbours (at least k).
LENDERS = 20


@dataclass(frozen=True)
class RecallTuning:
    """Knobs of hybrid recall; the defaults are what the retrieval benchmark chose."""

    vector_candidates: int = 60
    keyword_candidates: int = 60
    vector_weight: float = 1.0
    keyword_weight: float = 1.0
    neighbour_share: float = 0.5
    neighbour_width: int = 2
    rrf_k: float = RRF_K

    def lends_to_neighbours(self, within_one_user: bool) -> bool:
        # Neighbours are the turns around a match in one (agent, user) thread.
        return self.neighbour_share > 0 and within_one_user


def fuse(
    tuning: RecallTuning,
    by_vector: Sequence[tuple[UUID, float]],
    by_keyword: Sequence[tuple[UUID, float]],
) -> dict[UUID, float]:
    """The two ranked lists combined by weighted reciprocal-rank fusion."""
    return reciprocal_rank_fusion(
        [
            (tuning.vector_weight, [i for i, _ in by_vector]),
            (tuning.keyword_weight, [i for i, _ in by_keyword]),
        ],
        k=tuning.rrf_k,
    )


def reciprocal_rank_fusion(
    ranked_lists: Sequence[tuple[float, Sequence[UUID]]], k: float = RRF_K
) -> dict[UUID, float]:
    """Σ weight / (k + rank) over the lists a turn appears in (rank from 1)."""
    scores: dict[UUID, float] = defaultdict(float)
    for weight, ids in ranked_lists:
        for rank, turn_id in enumerate(ids, start=1):
            scores[turn_id] += weight / (k + rank)
    return dict(scores)


def lenders(scores: Mapping[UUID, float], k: int) -> list[UUID]:
    """The turns whose neighbours get a share of their score."""
    return top(scores, max(k, LENDERS), {})


def spread_to_neighbours(
    scores: Mapping[UUID, float], links: Iterable[tuple[UUID, UUID, int]], share: float
) -> dict[UUID, float]:
    """Give each neighbour of a scored turn ``share`` of that turn's score (keeping the best).

    A short reply ("Yes, last Tuesday!") holds the answer while the question before it holds
    the words: evidence sits next to what matches.
    """
    result = dict(scores)
    for anchor, near, _offset in links:
        lent = share * scores.get(anchor, 0.0)
        if lent > result.get(near, 0.0):
            result[near] = lent
    return result


def top(scores: Mapping[UUID, float], k: int, tie_break: Mapping[UUID, float]) -> list[UUID]:
    """The ``k`` best ids; equal scores go to the higher ``tie_break`` (recency)."""
    return sorted(scores, key=lambda i: (-scores[i], -tie_break.get(i, 0.0), str(i)))[:k]
