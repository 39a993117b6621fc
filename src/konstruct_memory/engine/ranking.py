"""How recall ranks: every decision, as pure functions over ids and scores.

A turn's score has a fixed meaning: it is computed from the turn's own signals against the
query on fixed scales, never normalised by the other candidates of the call, so a threshold
(``min_score``) keeps its meaning from one call, scope or scope size to the next.

1. Own relevance: the cosine similarity on a fixed scale (0 at ``similarity_floor``, 1 at
   ``similarity_full``) and the keyword coverage (the share of the query's idf weight that the
   turn holds), weighted and averaged. Under the floor and without a keyword in common, a turn
   has no own relevance: its score is 0, and it only ever comes after every turn that has some.
2. Dialogue acts, read off the text and the thread: a turn that only asks holds no answer, and
   the assistant's short reply to a relevant statement of the user is a reaction to it ("Nice
   car!"): it cannot know more of the user than the user said, while the user's short reply
   often adds a fact ("Great, though he chews every shoe"). Each multiplies the score by a
   fixed factor.
3. Corrections: a relevant turn that says it revises something ("actually", "moved to",
   "instead", "no longer", ...) and restates an earlier turn of its speaker in similar words
   (the engine finds those) takes the place of what it corrects: it borrows most of the gap to
   the earlier turn, which counts for less (a stale state: "the review moved to Thursday").
4. Lending: a relevant turn borrows a share of the gap to a better neighbour in its thread, and
   never rises above it (evidence sits next to what matches: "Yes, last Tuesday!").
5. Date cues (``date_cues``): a relevant turn said in a month the query names (or the month
   after) moves a fixed share of the way to 1; one said on a day the query names ("on 3
   June") moves a share again, on top (the engine adds that day's turns closest to the query
   to the candidates).

The constants were chosen on the LoCoMo dev conversations leave-one-conversation-out and checked
on the small-scope and long-turn suites (BENCHMARKS.md, "Retrieval quality"); no rule keys on a
data set's names, dates or phrasing. ``engine.recall`` fetches what these functions need.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, TypeVar

from konstruct_memory.engine.date_cues import Day, in_named_days, in_named_months, month_cue

# A candidate's key: the engine ranks small integers standing for turn ids (hashing a UUID
# costs a Python call; ranking hashes keys a few thousand times a recall).
Key = TypeVar("Key", bound=Hashable)

# Cosine similarity (all-MiniLM-L6-v2) under which a turn sharing no keyword with the query
# counts as unrelated: unrelated chat pairs sit around 0.05-0.15.
RELEVANCE_FLOOR = 0.2
# How many of the best turns lend to their neighbours (at least k).
LENDERS = 20
# What a keyword in common still counts for when the turn's meaning is unrelated: enough that
# a shared word always ranks above no relevance at all, too little to matter beside a match.
COINCIDENCE_SHARE = 0.1
# An assistant's reply of at most this many words to a user's statement is a reaction to it.
REACTION_WORDS = 12
# Words by which a speaker revises what they said before. General English, not any data set's
# phrasing; on its own a cue decides nothing: the turn must also restate an earlier one of its
# speaker in similar words (``RecallTuning.restated_similarity``).
_REVISION = re.compile(
    # saying one was wrong
    r"\b(actually|correction|correct(?:ed|ing)? (?:that|myself)|typo|oops|wrong|mistaken?"
    r"|i meant?|scratch that|turns out"
    # saying the state of things changed
    r"|change of plans?|changed|moved|rescheduled|postponed|delayed|pushed back"
    r"|brought forward|cancell?ed|switched|swapped|replaced|upgraded|downgraded|traded|sold"
    r"|quit|renamed|lowered|raised|increased|decreased|reduced|extended|instead|no longer"
    r"|not any ?more|anymore|update[ds]?|now|these days)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RecallTuning:
    """Knobs of hybrid recall; the defaults are what the retrieval benchmarks chose."""

    vector_candidates: int = 60
    keyword_candidates: int = 120
    # The keyword stage reads a scope of up to this many turns whole (row-level security
    # leaves the GIN index unused); a larger one through its postings (migration 018), reading
    # at most ``keyword_postings`` of them: those of the query's rarest lexemes. A lexeme's
    # turns are counted up to ``keyword_common_share`` of the scope (BENCHMARKS.md, "Heavy
    # scopes").
    keyword_exact_turns: int = 5_000
    keyword_postings: int = 5_000
    keyword_common_share: float = 0.02
    similarity_floor: float = RELEVANCE_FLOOR
    similarity_full: float = 0.7
    # Keyword coverage weighs this many times the vector signal in a turn's own relevance.
    keyword_weight: float = 2.0
    # Cosine under which a keyword in common is a coincidence of words ("uses" in a recipe for
    # "what computer do I use?"): coverage counts in full at the similarity floor and above,
    # less and less below it, and COINCIDENCE_SHARE of itself at this cosine and under.
    keyword_gate: float = 0.1
    # Shares of the gap to a better neighbour that a turn borrows: from the turn after it (its
    # reply) and from the turn before it; turns two away borrow half as much.
    reply_share: float = 0.6
    neighbour_share: float = 0.8
    neighbour_width: int = 2
    question_factor: float = 0.2
    reaction_factor: float = 0.4
    month_share: float = 0.3
    # A turn said on a day the query names moves this share of the way to 1 (after the month
    # cue); the engine adds up to ``day_candidates`` of each named day's turns, the closest to
    # the query, to the candidates.
    day_share: float = 0.3
    day_candidates: int = 20
    # A correction restates an earlier turn of its speaker at this cosine or more (the same
    # fact with another value: 0.59-0.75 on the small-scope suite's corrections); it borrows
    # this share of the gap to it, and the corrected turn's score is multiplied by the factor.
    restated_similarity: float = 0.55
    correction_share: float = 0.9
    corrected_factor: float = 0.8

    def __post_init__(self) -> None:
        # A share above 1 would lift a borrower above its lender; a factor above 1 or at 0
        # would turn a discount into a boost or erase own relevance.
        shares = ("reply_share", "neighbour_share", "month_share", "day_share", "correction_share")
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be from 0 to 1")
        for name in ("question_factor", "reaction_factor", "corrected_factor"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be above 0 and at most 1")
        if not self.keyword_gate < self.similarity_floor < self.similarity_full:
            raise ValueError("keyword_gate < similarity_floor < similarity_full must hold")

    def lends_to_neighbours(self, within_one_user: bool) -> bool:
        # Neighbours are the turns around a match in one (agent, user) thread.
        return max(self.reply_share, self.neighbour_share) > 0 and within_one_user


def has_own_relevance(similarity: float, keyword: float, tuning: RecallTuning) -> bool:
    """A keyword in common with the query, or a cosine similarity above the floor."""
    return keyword > 0 or similarity > tuning.similarity_floor


def vector_signal(similarity: float | None, tuning: RecallTuning) -> float:
    """The cosine similarity on the fixed [0, 1] scale: 0 at the floor, 1 at ``full``."""
    if similarity is None:
        return 0.0
    span = tuning.similarity_full - tuning.similarity_floor
    return min(1.0, max(0.0, (similarity - tuning.similarity_floor) / span))


def own_relevance(similarity: float | None, keyword: float, tuning: RecallTuning) -> float:
    """The vector signal and the keyword coverage (gated by the similarity), weighted and
    averaged: in [0, 1], 0 for a turn with no own relevance."""
    vector = vector_signal(similarity, tuning)
    coverage = min(1.0, keyword)
    if similarity is not None and similarity < tuning.similarity_floor:
        span = tuning.similarity_floor - tuning.keyword_gate
        coverage *= max(COINCIDENCE_SHARE, (similarity - tuning.keyword_gate) / span)
    return (vector + tuning.keyword_weight * coverage) / (1.0 + tuning.keyword_weight)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\w+")


def is_question(text: str) -> bool:
    """Every sentence of ``text`` asks something (ends with '?')."""
    if not text.rstrip().endswith("?"):  # the common case, without splitting
        return False
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
    return bool(sentences) and all(s.rstrip().endswith("?") for s in sentences)


def is_short(text: str) -> bool:
    return len(_WORD.findall(text)) <= REACTION_WORDS


def says_revision(text: str) -> bool:
    """``text`` uses a word by which speakers revise what they said ("actually", "instead")."""
    return _REVISION.search(text) is not None


class Candidate(NamedTuple):  # tuples: a recall builds a few hundred of each
    """What ranking reads of a turn that may be recalled."""

    similarity: float  # cosine similarity to the query
    keyword: float  # keyword coverage of the query, in [0, 1]
    speaker: str  # the role
    text: str
    when: datetime


class Scored(NamedTuple):
    """A candidate's score (in [0, 1]) and what it is made of."""

    score: float
    own: float  # own relevance, before dialogue acts, lending and the month cue
    act: float  # the dialogue-act factor (the corrected factor included)
    borrowed: float  # the share of a better neighbour's score it borrowed (or would have)
    month: bool  # the month cue applied
    correction: float = 0.0  # what it took from an earlier turn it corrects
    corrected: bool = False  # a later relevant turn corrects it
    day: bool = False  # the day cue applied


def may_correct(candidate: Candidate, tuning: RecallTuning) -> bool:
    """Whether ``candidate`` could correct an earlier turn: relevant, and worded as a revision.
    The engine looks up which earlier turns it restates only for these."""
    return own_relevance(candidate.similarity, candidate.keyword, tuning) > 0 and says_revision(
        candidate.text
    )


def score_candidates(
    candidates: Mapping[Key, Candidate],
    links: Iterable[tuple[Key, Key, int]],
    months: Sequence[tuple[int, int | None]],
    tuning: RecallTuning,
    restated: Iterable[tuple[Key, Key, float]] = (),
    days: Sequence[Day] = (),
) -> dict[Key, Scored]:
    """Every candidate scored: own relevance, dialogue acts, corrections, lending, the date
    cues.

    ``links`` are (anchor, neighbour, offset) triples of one thread (``offset`` is where the
    neighbour sits from the anchor: -1 just before it); ``months`` and ``days`` are the query's
    named months and days; ``restated`` are (later, earlier, cosine) for turns of one speaker
    in similar words.
    """
    links = list(links)
    own = {i: own_relevance(c.similarity, c.keyword, tuning) for i, c in candidates.items()}
    previous = {anchor: near for anchor, near, offset in links if offset == -1}
    previous |= {near: anchor for anchor, near, offset in links if offset == 1}
    factors = act_factors(own, candidates, previous, tuning)
    acted = {i: own[i] * factors[i] for i in own}
    corrections = corrected_pairs(candidates, own, restated)
    gains = correction_gains(acted, corrections, {i: c.when for i, c in candidates.items()}, tuning)
    stale = {earlier for _, earlier in corrections}
    for i in stale:
        factors[i] *= tuning.corrected_factor
    revised = {
        i: (acted[i] + gains.get(i, 0.0)) * (tuning.corrected_factor if i in stale else 1.0)
        for i in own
    }
    lent, borrowed = lend(revised, links, tuning)
    when = {i: c.when for i, c in candidates.items()}
    in_months = in_named_months(when, months) if months else set()
    in_days = in_named_days(when, days) if days else set()
    final = month_cue(lent, in_months, tuning.month_share) if in_months else lent
    final = month_cue(final, in_days, tuning.day_share) if in_days else final
    return {
        i: Scored(
            score=final[i],
            own=own[i],
            act=factors[i],
            borrowed=borrowed.get(i, 0.0),
            month=i in in_months and final[i] > 0,
            correction=gains.get(i, 0.0),
            corrected=i in stale,
            day=i in in_days and final[i] > 0,
        )
        for i in candidates
    }


def corrected_pairs(
    candidates: Mapping[Key, Candidate],
    own: Mapping[Key, float],
    restated: Iterable[tuple[Key, Key, float]],
) -> list[tuple[Key, Key]]:
    """(correction, corrected): each relevant turn worded as a revision, with the earlier turn
    it restates most closely. A revision replaces one statement; its speaker's other turns on
    the topic are past events that stay true ("I'm painting again now" does not undo them)."""
    closest: dict[Key, tuple[float, Key]] = {}
    for later, earlier, similarity in restated:
        if later == earlier or later not in candidates or earlier not in candidates:
            continue
        if later in closest and similarity <= closest[later][0]:
            continue
        if own[later] > 0 and says_revision(candidates[later].text):
            closest[later] = (similarity, earlier)
    return [(later, earlier) for later, (_, earlier) in closest.items()]


def correction_gains(
    scores: Mapping[Key, float],
    corrections: Iterable[tuple[Key, Key]],
    when: Mapping[Key, datetime],
    tuning: RecallTuning,
) -> dict[Key, float]:
    """What each correction takes from the turn it corrects: a share of the gap to it, with
    what that turn took in turn (corrections in time order: a correction of a correction still
    outranks the first). Never enough to pass the corrected turn; its factor does the rest."""
    gains: dict[Key, float] = {}
    for later, earlier in sorted(corrections, key=lambda pair: when[pair[0]]):
        gap = scores[earlier] + gains.get(earlier, 0.0) - scores[later]
        if gap > 0:
            gains[later] = tuning.correction_share * gap
    return gains


def act_factors(
    own: Mapping[Key, float],
    turns: Mapping[Key, Candidate],
    previous: Mapping[Key, Key],
    tuning: RecallTuning,
) -> dict[Key, float]:
    """The factor each relevant turn's score is multiplied by for what it does in the dialogue
    (``previous`` maps a turn to the one just before it in its thread)."""
    factors = dict.fromkeys(own, 1.0)
    for i in own:
        turn = turns.get(i)
        if turn is None or own[i] <= 0:
            continue
        if is_question(turn.text):
            factors[i] *= tuning.question_factor
            continue
        before = previous.get(i)
        if before is None or turn.speaker != "assistant" or not is_short(turn.text):
            continue
        answered = turns.get(before)
        if (
            answered is not None
            and answered.speaker == "user"
            and own.get(before, 0.0) > 0
            and not is_question(answered.text)
        ):
            factors[i] *= tuning.reaction_factor
    return factors


def lend(
    scores: Mapping[Key, float],
    links: Iterable[tuple[Key, Key, int]],
    tuning: RecallTuning,
) -> tuple[dict[Key, float], dict[Key, float]]:
    """Scores after each turn borrows from its best neighbour, and what each borrowed.

    A turn at ``offset`` from a lender borrows a share of the gap between them: the reply share
    when the lender comes right after it (its reply), the neighbour share otherwise, half as
    much two turns away. It never passes the lender, and its own score still counts. A turn
    with no own relevance keeps the score 0; what it would borrow orders such turns.
    """
    borrowed: dict[Key, float] = {}
    for lender, near, offset in links:
        share = tuning.reply_share if offset == -1 else tuning.neighbour_share
        share /= abs(offset)
        gap = scores.get(lender, 0.0) - scores.get(near, 0.0)
        if gap > 0 and share * gap > borrowed.get(near, 0.0):
            borrowed[near] = share * gap
    lent = dict(scores)
    for i, amount in borrowed.items():
        if scores.get(i, 0.0) > 0:
            lent[i] = scores[i] + amount
    return lent, borrowed


def lenders(scores: Mapping[Key, float], k: int) -> list[Key]:
    """The turns whose neighbours may borrow from them: the best relevant ones."""
    relevant = (i for i, s in scores.items() if s > 0)
    return sorted(relevant, key=lambda i: -scores[i])[: max(k, LENDERS)]


def top(scored: Mapping[Key, Scored], when: Mapping[Key, datetime], k: int) -> list[Key]:
    """The ``k`` best ids: by score, equal scores by own relevance, then by recency; turns with
    no own relevance (score 0) come after all others, by what they borrowed, then recency."""

    def key(i: Key) -> tuple[float, float, float, float, str]:
        s = scored[i]
        return (-s.score, -s.own, -s.borrowed, -when[i].timestamp(), str(i))

    return sorted(scored, key=key)[:k]
