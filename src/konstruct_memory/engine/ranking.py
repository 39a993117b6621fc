"""How recall ranks: every decision, as pure functions over ids and scores.

Measured on the LoCoMo dev conversations (``bench/retrieval_quality.py``); every step here
earned its place there, and the current defaults were chosen leave-one-conversation-out (tuned
on two conversations, scored on the third). No rule keys on a data set's names, dates or
phrasing: the month cue reads any capitalised month name. ``engine.recall`` fetches what these
functions need and nothing more.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
    keyword_weight: float = 2.0
    neighbour_share: float = 0.5
    neighbour_width: int = 2
    rrf_k: float = RRF_K
    # "linear": each list's scores min-max normalised over its own candidates, then weighted
    # and summed; "rrf": reciprocal ranks. Linear won leave-one-conversation-out on the dev
    # conversations (BENCHMARKS.md, "Retrieval quality").
    fusion: str = "linear"
    # Turns in a month the query names (or the month after) have their score multiplied so.
    month_boost: float = 2.0

    def lends_to_neighbours(self, within_one_user: bool) -> bool:
        # Neighbours are the turns around a match in one (agent, user) thread.
        return self.neighbour_share > 0 and within_one_user


def fuse(
    tuning: RecallTuning,
    by_vector: Sequence[tuple[UUID, float]],
    by_keyword: Sequence[tuple[UUID, float]],
) -> dict[UUID, float]:
    """The two ranked lists combined, by ``tuning.fusion``."""
    if tuning.fusion == "linear":
        return linear_fusion(
            [(tuning.vector_weight, by_vector), (tuning.keyword_weight, by_keyword)]
        )
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


def linear_fusion(
    scored_lists: Sequence[tuple[float, Sequence[tuple[UUID, float]]]],
) -> dict[UUID, float]:
    """Σ weight * (score min-max normalised within its list) / Σ weight: in [0, 1]."""
    total = sum(weight for weight, _ in scored_lists) or 1.0
    fused: dict[UUID, float] = defaultdict(float)
    for weight, scored in scored_lists:
        for turn_id, value in normalised(scored).items():
            fused[turn_id] += weight * value / total
    return dict(fused)


def normalised(scored: Sequence[tuple[UUID, float]]) -> dict[UUID, float]:
    """Scores min-max normalised over their own list: the best 1, the worst 0."""
    if not scored:
        return {}
    values = [score for _, score in scored]
    low, high = min(values), max(values)
    return {i: (score - low) / (high - low) if high > low else 1.0 for i, score in scored}


def score_bound(tuning: RecallTuning, month_named: bool) -> float:
    """The highest score a turn can reach in a call: dividing by it gives a score in [0, 1]
    (lending never exceeds the lender's score)."""
    if tuning.fusion == "linear":
        bound = 1.0
    else:
        bound = (tuning.vector_weight + tuning.keyword_weight) / (tuning.rrf_k + 1)
    return bound * (tuning.month_boost if month_named and tuning.month_boost > 1 else 1.0)


MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("January", "Jan"), ("February", "Feb"), ("March", "Mar"), ("April", "Apr"),
            ("May",), ("June", "Jun"), ("July", "Jul"), ("August", "Aug"),
            ("September", "Sep", "Sept"), ("October", "Oct"), ("November", "Nov"),
            ("December", "Dec"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip
_MONTH_WORD = re.compile(r"\b(" + "|".join(MONTHS) + r")\b\.?(?:,?\s+(\d{4}))?")


def months_named(query: str) -> list[tuple[int, int | None]]:
    """(month, year or None) for each capitalised month name in ``query`` ("in May 2023",
    "last Sept."): lower-case "may" and "march" are verbs more often than months."""
    return [
        (MONTHS[match.group(1)], int(match.group(2)) if match.group(2) else None)
        for match in _MONTH_WORD.finditer(query)
    ]


def in_named_months(
    when: Mapping[UUID, datetime], months: Sequence[tuple[int, int | None]]
) -> set[UUID]:
    """Turns said in a named month, or the month after it (a question about "May" is often
    answered by what was said about it in June)."""
    wanted: set[tuple[int, int | None]] = set()
    for month, year in months:
        following = (month % 12 + 1, None if year is None else year + (month == 12))
        wanted |= {(month, year), following}
    return {i for i, at in when.items() if {(at.month, at.year), (at.month, None)} & wanted}


def boost(scores: Mapping[UUID, float], ids: set[UUID], factor: float) -> dict[UUID, float]:
    return {i: score * factor if i in ids else score for i, score in scores.items()}


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
