"""The ranking's invariants, over random scopes, signals and thread layouts (Hypothesis).

A scope is a thread of turns in time order; each turn has a cosine similarity, a keyword
coverage, a speaker and a text that may ask or answer. Links join each of some anchors to the
turns up to two either side, as the neighbour lookup does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from konstruct_memory.engine import date_cues, ranking
from konstruct_memory.engine.ranking import Candidate, RecallTuning

TUNING = RecallTuning()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TEXTS = [
    "Where did you go?",
    "Nice!",
    "We drove to the coast in June and it rained all week.",
    "Actually the trip moved to July.",
]
Links = list[tuple[uuid.UUID, uuid.UUID, int]]
Restated = list[tuple[uuid.UUID, uuid.UUID, float]]
Layout = tuple[dict[uuid.UUID, Candidate], Links, Restated]


@st.composite
def scopes(draw: st.DrawFn) -> Layout:
    n = draw(st.integers(min_value=1, max_value=25))
    ids = [uuid.UUID(int=i + 1) for i in range(n)]
    similarities = st.floats(min_value=-0.3, max_value=1.0, allow_nan=False)
    coverage = st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=1.0))
    candidates = {
        i: Candidate(
            similarity=draw(similarities),
            keyword=draw(coverage),
            speaker=draw(st.sampled_from(["user", "assistant"])),
            text=draw(st.sampled_from(TEXTS)),
            # Equal times are allowed: ties must still be decided.
            when=T0 + timedelta(days=draw(st.integers(min_value=0, max_value=40))),
        )
        for i in ids
    }
    anchors = draw(st.lists(st.sampled_from(ids), unique=True, max_size=n))
    links = [
        (ids[a], ids[a + offset], offset)
        for a in (ids.index(anchor) for anchor in anchors)
        for offset in (-2, -1, 1, 2)
        if 0 <= a + offset < n
    ]
    # Restatements as the engine finds them: an earlier turn said in similar words.
    pairs = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=n))
    similarity = st.floats(min_value=TUNING.restated_similarity, max_value=1.0)
    restated = [
        (later, earlier, draw(similarity))
        for later, earlier in pairs
        if candidates[earlier].when < candidates[later].when
    ]
    return candidates, links, restated


# Named months and days: a scope spans 40 days from 1 January 2026.
months = st.lists(
    st.tuples(st.integers(min_value=1, max_value=12), st.none() | st.just(2026)), max_size=2
)
days = st.lists(
    st.builds(
        date_cues.Day,
        st.integers(min_value=1, max_value=2),
        st.integers(min_value=1, max_value=28),
        st.none() | st.just(2026),
    ),
    max_size=2,
)


def relevant(c: Candidate) -> bool:
    return ranking.has_own_relevance(c.similarity, c.keyword, TUNING)


@settings(max_examples=300, deadline=None)
@given(scopes(), months, days)
def test_a_turn_with_no_own_relevance_never_ranks_above_one_with_some(
    layout: Layout, named: list[tuple[int, int | None]], named_days: list[date_cues.Day]
) -> None:
    candidates, links, restated = layout
    scored = ranking.score_candidates(candidates, links, named, TUNING, restated, named_days)
    order = ranking.top(scored, {i: c.when for i, c in candidates.items()}, len(candidates))
    seen_unrelated = False
    for i in order:
        if not relevant(candidates[i]):
            seen_unrelated = True
            assert scored[i].score == 0.0
        else:
            assert not seen_unrelated, "an unrelated turn ranks above a relevant one"
            assert scored[i].score > 0.0


@settings(max_examples=300, deadline=None)
@given(scopes(), months, days, st.data())
def test_all_else_equal_a_score_grows_with_its_own_similarity(
    layout: Layout,
    named: list[tuple[int, int | None]],
    named_days: list[date_cues.Day],
    data: st.DataObject,
) -> None:
    candidates, links, restated = layout
    turn = data.draw(st.sampled_from(sorted(candidates)))
    low, high = sorted(
        data.draw(st.lists(st.floats(min_value=-0.3, max_value=1.0), min_size=2, max_size=2))
    )

    def score_at(similarity: float) -> float:
        changed = dict(candidates)
        changed[turn] = candidates[turn]._replace(similarity=similarity)
        return ranking.score_candidates(changed, links, named, TUNING, restated, named_days)[
            turn
        ].score

    assert score_at(high) >= score_at(low)
    floor, full = TUNING.similarity_floor, TUNING.similarity_full
    if floor < low < high <= full and high - low > 1e-6:
        assert score_at(high) > score_at(low)


@settings(max_examples=300, deadline=None)
@given(scopes())
def test_lending_never_lifts_a_turn_above_the_turn_it_borrows_from(layout: Layout) -> None:
    candidates, links, restated = layout
    scored = ranking.score_candidates(candidates, links, [], TUNING, restated)
    for i, s in scored.items():
        taken = s.correction * (TUNING.corrected_factor if s.corrected else 1.0)
        acted = s.own * s.act + taken
        if s.score > acted + 1e-12:  # it borrowed: a neighbour lending to it is at least as high
            lenders = [scored[a].score for a, near, _ in links if near == i]
            assert lenders and max(lenders) >= s.score
    order = ranking.top(scored, {i: c.when for i, c in candidates.items()}, len(candidates))
    for i, s in scored.items():
        if s.borrowed > 0 and s.score > 0:
            lenders_of_i = [a for a, near, _ in links if near == i]
            best_lender = max(lenders_of_i, key=lambda a: scored[a].score)
            assert order.index(best_lender) < order.index(i) or (
                scored[best_lender].score == s.score
            )


@settings(max_examples=300, deadline=None)
@given(scopes(), months, days)
def test_equal_scores_are_ordered_by_own_relevance_before_recency(
    layout: Layout, named: list[tuple[int, int | None]], named_days: list[date_cues.Day]
) -> None:
    candidates, links, restated = layout
    scored = ranking.score_candidates(candidates, links, named, TUNING, restated, named_days)
    when = {i: c.when for i, c in candidates.items()}
    order = ranking.top(scored, when, len(candidates))
    for above, below in pairwise(order):
        a, b = scored[above], scored[below]
        assert a.score >= b.score
        if a.score == b.score and a.score > 0:
            assert a.own >= b.own
            if a.own == b.own:
                assert a.borrowed > b.borrowed or when[above] >= when[below]


@settings(max_examples=200, deadline=None)
@given(scopes(), months, days)
def test_scores_stay_in_the_unit_interval(
    layout: Layout, named: list[tuple[int, int | None]], named_days: list[date_cues.Day]
) -> None:
    candidates, links, restated = layout
    for s in ranking.score_candidates(
        candidates, links, named, TUNING, restated, named_days
    ).values():
        assert 0.0 <= s.score <= 1.0 and 0.0 <= s.own <= 1.0


@settings(max_examples=300, deadline=None)
@given(scopes())
def test_a_relevant_correction_ranks_above_the_turn_it_corrects(layout: Layout) -> None:
    candidates, links, restated = layout
    scored = ranking.score_candidates(candidates, links, [], TUNING, restated)
    own = {i: ranking.own_relevance(c.similarity, c.keyword, TUNING) for i, c in candidates.items()}
    order = ranking.top(scored, {i: c.when for i, c in candidates.items()}, len(candidates))
    for later, earlier in ranking.corrected_pairs(candidates, own, restated):
        assert scored[earlier].corrected
        assert ranking.says_revision(candidates[later].text) and scored[later].score > 0
        # Lending may lift either; of a chain of corrections, only the last must lead.
        if scored[earlier].score > 0 and not links and not scored[later].corrected:
            assert order.index(later) < order.index(earlier)
