"""How recall combines its signals. Pure functions, so each choice is testable on its own.

Measured on the LoCoMo dev conversations (``bench/retrieval_quality.py``); every step here
earned its place there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from uuid import UUID

# Reciprocal-rank fusion constant. The usual 60 flattens the head of each list; with 10 the
# top ranks of either signal count, and lending to neighbours then pulls in the turns around
# the strongest matches (LoCoMo dev recall@10: 0.64 at 40, 0.70 at 20, 0.75 at 10, 0.76 at 5).
RRF_K = 10.0


def reciprocal_rank_fusion(
    ranked_lists: Sequence[tuple[float, Sequence[UUID]]], k: float = RRF_K
) -> dict[UUID, float]:
    """Σ weight / (k + rank) over the lists a turn appears in (rank from 1)."""
    scores: dict[UUID, float] = defaultdict(float)
    for weight, ids in ranked_lists:
        for rank, turn_id in enumerate(ids, start=1):
            scores[turn_id] += weight / (k + rank)
    return dict(scores)


def spread_to_neighbours(
    scores: dict[UUID, float], links: Iterable[tuple[UUID, UUID, int]], share: float
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


def top(scores: dict[UUID, float], k: int, tie_break: dict[UUID, float]) -> list[UUID]:
    """The ``k`` best ids; equal scores go to the higher ``tie_break`` (recency)."""
    return sorted(scores, key=lambda i: (-scores[i], -tie_break.get(i, 0.0), str(i)))[:k]
