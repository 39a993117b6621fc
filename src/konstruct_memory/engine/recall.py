"""Recall: the turns of a scope most relevant to a query. Fetches what ``ranking`` decides on.

The keyword stage needs only the text: it runs in the database (on a second pooled connection)
while the query is being embedded, so a recall costs max(embedding, keywords) rather than their
sum (measured in BENCHMARKS.md, "HTTP").
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from konstruct_memory import tracing
from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.embed import Vectors
from konstruct_memory.engine import date_cues, models, ranking
from konstruct_memory.engine.audit import ReadAudit
from konstruct_memory.engine.session import Session, resolved
from konstruct_memory.errors import Conflict
from konstruct_memory.operations import Hit, RecallAcrossUsersRequest, Recalled, RecallRequest
from konstruct_memory.operations.reads import ScoreParts
from konstruct_memory.store import keywords as keyword_stage
from konstruct_memory.store import search, turns
from konstruct_memory.store import windows as turn_windows
from konstruct_memory.store.rows import CandidateRow
from konstruct_memory.store.scope import Scope
from konstruct_memory.store.search import Ref

# How many candidates are ranked (at least 3k): the best by own relevance (or its bound), with
# the neighbours of the lenders. The other vector and keyword candidates cannot reach the top
# k, and their rows are not read.
SHORTLIST = 60
# A day named without a year ("on 3 June") is looked for in this many years, this one included.
DAY_YEARS = 10


def recall(session: Session, request: RecallRequest) -> Recalled:
    scope = scope_of(session, request, resolved(request.user_id))
    audit = ReadAudit("recall", request.query)
    return Recalled(hits=ranked(session, scope, request, audit=audit))


def recall_across_users(session: Session, request: RecallAcrossUsersRequest) -> Recalled:
    scope = scope_of(session, request, None)
    audit = ReadAudit("recall_across_users", request.query)
    return Recalled(hits=ranked(session, scope, request, audit=audit))


def scope_of(
    session: Session, request: RecallRequest | RecallAcrossUsersRequest, user_id: str | None
) -> Scope:
    """The turns a recall searches: the agent's (of one user, or all), with vectors of the
    model the tenant's reads use (as this process last saw it), within the request's filters."""
    plan = models.cached(session)
    return Scope(
        agent_id=resolved(request.agent_id),
        user_id=user_id,
        embedding_model=plan.reads,
        beside=plan.beside,
        conversation_id=request.conversation_id,
        since=request.since,
        until=request.until,
        roles=request.roles,
        as_of=request.as_of,
    )


def ranked(
    session: Session,
    scope: Scope,
    request: RecallRequest | RecallAcrossUsersRequest,
    k: int | None = None,
    *,
    audit: ReadAudit,
    exclude: Collection[UUID] = (),
) -> list[Hit]:
    """The best ``k`` (default: the request's) turns of ``scope`` for the request's query,
    leaving out ``exclude`` and any scoring under ``min_score``; recorded by ``audit`` in the
    transaction that read them."""
    k = request.k if k is None else k
    query = request.query
    session.check_size(query, "query")
    resources = session.resources
    tuning = resources.tuning
    plan = models.cached(session)
    scope = replace(scope, embedding_model=plan.reads, beside=plan.beside)
    # Carried: the pool's thread would otherwise start a trace of its own.
    keywords = resources.background.submit(tracing.carried(_keyword_matches), session, scope, query)
    query_vector = session.embed_query(query, models.embedder_of(session, plan, plan.reads))
    found = keywords.result()
    with session.read_transaction(scope.agent_id, scope.user_id) as tx:
        seen = models.for_read(session, tx)
        if (seen.reads, seen.beside) != (plan.reads, plan.beside):
            # A switch flipped since this process last looked: one model, the one seen here.
            scope = replace(scope, embedding_model=seen.reads, beside=seen.beside)
            query_vector = session.embed_query(query, models.embedder_of(session, seen, seen.reads))
            found = _keyword_stage(tx, scope, query, tuning)
        keyword = dict(found.matches)
        if scope.user_id is not None and not scope.beside:
            _refuse_mixed_models(tx, scope)
        # Enough candidates that k remain once the excluded turns are left out.
        wanted = k + len(exclude)
        limit = max(wanted, tuning.vector_candidates)
        with tracing.stage("vector stage"):
            by_vector, beyond = _nearest(tx, scope, query_vector, limit)
        if found.pruned is not None:
            # Every vector candidate by the stage's weights: one holding only pruned lexemes was
            # not searched (the ids alone cannot tell which: across users they may repeat).
            with tracing.stage("keyword coverage"):
                covered = keyword_stage.coverage(
                    tx, scope.of_turns(), list(by_vector), found.weights
                )
            for ref, share in covered.items():
                keyword[ref] = max(share, keyword.get(ref, 0.0))
        days = date_cues.days_named(query)
        said_on_days = _said_on(tx, scope, days, query_vector, tuning) if days else {}
        if said_on_days:
            _add_said_on_days(tx, scope, said_on_days, by_vector, keyword, found.weights)
        own = _own_bounds(by_vector, keyword, beyond, tuning)  # by id: enough to choose rows
        anchors = ranking.lenders(own, wanted)
        with tracing.stage("fetch candidates"):
            links: list[tuple[UUID, UUID, int]] = []
            if tuning.lends_to_neighbours(scope.user_id is not None):
                links = search.neighbours(tx, scope, anchors, tuning.neighbour_width)
            neighbours = {near for _, near, _ in links}
            # Zero scores included: a recall always returns min(k, turns in scope).
            pool = sorted(own, key=own.__getitem__, reverse=True)[: max(SHORTLIST, 3 * wanted)]
            # A named day's turns are ranked whatever their bound: the day cue may lift them.
            fetched = {*pool, *neighbours, *(turn_id for turn_id, _ in said_on_days)}
            rows = search.candidates(tx, scope, list(fetched), query_vector)
            # Rows are keyed by (id, user) from here on: across users, two turns may share an id.
            candidates = {ref: _candidate(row, keyword.get(ref, 0.0)) for ref, row in rows.items()}
            revising = [ref for ref, c in candidates.items() if ranking.may_correct(c, tuning)]
            restated = (
                search.restated(tx, scope, revising, list(rows), tuning.restated_similarity)
                if revising
                else []
            )
        with tracing.stage("rank"):
            user = scope.user_id or ""
            near = [((a, user), (b, user), offset) for a, b, offset in links]
            left_out = {(i, user) for i in exclude}
            best = _best(tuning, query, days, candidates, near, restated, left_out, k, found.pruned)
            if request.min_score is not None:
                best = [hit for hit in best if hit[1] >= request.min_score]
        refs = [ref for ref, _, _ in best]
        with tracing.stage("fetch metadata"):
            metadata = turns.metadata_of(tx, scope.of_turns(), refs)
        audit.record(tx, session, scope, [turn_id for turn_id, _ in refs])
    return [_hit(rows[ref], metadata[ref], score, parts) for ref, score, parts in best]


def _best(
    tuning: ranking.RecallTuning,
    query: str,
    days: list[date_cues.Day],
    candidates: dict[Ref, ranking.Candidate],
    links: list[tuple[Ref, Ref, int]],
    restated: list[tuple[Ref, Ref, float]],
    exclude: Collection[Ref],
    k: int,
    keyword_pruned: list[str] | None,
) -> list[tuple[Ref, float, ScoreParts]]:
    """The ``k`` best of ``candidates`` but ``exclude`` (which still lend to their neighbours),
    each with its score, rounded once here so that ``min_score`` compares the very score a hit
    reports, and its parts. Ranking runs on row numbers, cheaper to hash than UUIDs."""
    ids = list(candidates)
    number = {ref: n for n, ref in enumerate(ids)}
    listed = list(candidates.values())
    near = [(number[a], number[b], off) for a, b, off in links if a in number and b in number]
    pairs = [(number[a], number[b], c) for a, b, c in restated if a in number and b in number]
    scored = ranking.score_candidates(
        dict(enumerate(listed)), near, date_cues.months_named(query), tuning, pairs, days
    )
    left_out = {number[i] for i in exclude if i in number}
    rankable = {n: s for n, s in scored.items() if n not in left_out}
    best = ranking.top(rankable, dict(enumerate(c.when for c in listed)), k)
    return [
        (ids[n], round(scored[n].score, 6), _parts(scored[n], listed[n], tuning, keyword_pruned))
        for n in best
    ]


def _said_on(
    tx: TenantConnection,
    scope: Scope,
    days: list[date_cues.Day],
    query_vector: Vectors,
    tuning: ranking.RecallTuning,
) -> dict[Ref, float]:
    """The turns said on the days the query names, the closest to it (a day named without a
    year: in each of the last ``DAY_YEARS`` years)."""
    this_year = datetime.now(UTC).year
    years = range(this_year - DAY_YEARS + 1, this_year + 1)
    spans = [span for day in days for span in date_cues.day_spans(day, years)]
    with tracing.stage("day stage"):
        return search.said_within(tx, scope, spans, query_vector, tuning.day_candidates)


def _add_said_on_days(
    tx: TenantConnection,
    scope: Scope,
    said: dict[Ref, float],
    similarity: dict[UUID, float],
    keyword: dict[Ref, float],
    weights: dict[str, float],
) -> None:
    """The named days' turns join the candidates: their similarity, and the keyword coverage
    of those the keyword stage did not return (it returns only its best)."""
    for (turn_id, _), value in said.items():
        similarity[turn_id] = max(value, similarity.get(turn_id, value))
    missing = [turn_id for turn_id, user in said if (turn_id, user) not in keyword]
    for ref, share in keyword_stage.coverage(tx, scope.of_turns(), missing, weights).items():
        keyword[ref] = max(share, keyword.get(ref, 0.0))


def _candidate(row: CandidateRow, keyword: float) -> ranking.Candidate:
    return ranking.Candidate(row.similarity, keyword, row.role, row.content, row.occurred_at)


def _nearest(
    tx: TenantConnection, scope: Scope, query_vector: Vectors, limit: int
) -> tuple[dict[UUID, float], float | None]:
    """The vector candidates, each with its similarity (a long turn's: the best of its own
    vector's and its windows'), and a bound on the similarity of every turn of the scope left
    out (None when none was: every turn was read)."""
    by_turn = search.nearest(tx, scope, query_vector, limit)
    by_window, windows_beyond = turn_windows.nearest(tx, scope, query_vector, limit)
    similarity = dict(by_turn)
    for turn_id, best_window in by_window:
        similarity[turn_id] = max(best_window, similarity.get(turn_id, best_window))
    if len(by_turn) < limit:
        return similarity, None  # every turn in scope is a candidate already
    beyond = by_turn[-1][1]
    return similarity, beyond if windows_beyond is None else max(beyond, windows_beyond)


def _own_bounds(
    similarity: dict[UUID, float],
    keyword: dict[Ref, float],
    beyond: float | None,
    tuning: ranking.RecallTuning,
) -> dict[UUID, float]:
    """Each candidate id's own relevance, or a bound above it: a keyword match that was not
    among the vector candidates is no closer to the query than ``beyond`` (when the vector
    stage stopped at its limit), so that similarity bounds its own."""
    coverage: dict[UUID, float] = {}
    for (turn_id, _), share in keyword.items():
        coverage[turn_id] = max(share, coverage.get(turn_id, 0.0))
    return {
        i: ranking.own_relevance(similarity.get(i, beyond), coverage.get(i, 0.0), tuning)
        for i in similarity.keys() | coverage.keys()
    }


def _parts(
    scored: ranking.Scored,
    candidate: ranking.Candidate,
    tuning: ranking.RecallTuning,
    keyword_pruned: list[str] | None,
) -> ScoreParts:
    return ScoreParts(
        similarity=candidate.similarity,
        vector=ranking.vector_signal(candidate.similarity, tuning),
        keyword=candidate.keyword,
        act=scored.act,
        neighbour=scored.borrowed,
        month=scored.month,
        day=scored.day,
        correction=scored.correction,
        corrected=scored.corrected,
        keyword_pruned=keyword_pruned,
    )


def _refuse_mixed_models(tx: TenantConnection, scope: Scope) -> None:
    """A recall over part of the memory must not pass for all of it: turns embedded with
    another model cannot be compared with this query's vector, so the scope is refused."""
    other = search.other_model(tx, scope)
    if other is not None:
        raise Conflict(
            f"this user's turns with the agent were embedded with {other!r} as well as "
            f"{scope.embedding_model!r}, whose vectors cannot be compared; configure "
            f"{other!r} again, or switch the tenant to one model with 'konstruct-memory model "
            "switch' (docs/operations.md, 'Switching a tenant to another model')"
        )


def _keyword_matches(session: Session, scope: Scope, query: str) -> keyword_stage.KeywordMatches:
    with (
        tracing.stage("keyword stage"),
        session.read_transaction(scope.agent_id, scope.user_id) as tx,
    ):
        return _keyword_stage(tx, scope, query, session.resources.tuning)


def _keyword_stage(
    tx: TenantConnection, scope: Scope, query: str, tuning: ranking.RecallTuning
) -> keyword_stage.KeywordMatches:
    bounds = keyword_stage.KeywordBounds(
        tuning.keyword_exact_turns, tuning.keyword_postings, tuning.keyword_common_share
    )
    return keyword_stage.keyword_matches(
        tx, scope.of_turns(), query, tuning.keyword_candidates, bounds
    )


def _hit(row: CandidateRow, metadata: dict[str, Any], score: float, parts: ScoreParts) -> Hit:
    return Hit.model_construct(
        id=row.id,
        user_id=row.user_id,
        role=row.role,
        content=row.content,
        occurred_at=row.occurred_at,
        conversation_id=row.conversation_id,
        score=score,
        parts=parts,
        metadata=metadata,
    )
