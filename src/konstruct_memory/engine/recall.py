"""Recall: the turns of a scope most relevant to a query. Fetches what ``ranking`` decides on.

The keyword stage needs only the text: it runs in the database (on a second pooled connection)
while the query is being embedded, so a recall costs max(embedding, keywords) rather than their
sum (measured in BENCHMARKS.md, "HTTP").
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.engine import ranking
from konstruct_memory.engine.audit import ReadAudit
from konstruct_memory.engine.session import Session, resolved
from konstruct_memory.errors import Conflict
from konstruct_memory.operations import Hit, RecallAcrossUsersRequest, Recalled, RecallRequest
from konstruct_memory.operations.reads import ScoreParts
from konstruct_memory.store import search, turns
from konstruct_memory.store.rows import CandidateRow
from konstruct_memory.store.scope import Scope

# How many candidates are ranked (at least 3k): the best by own relevance (or its bound), with
# the neighbours of the lenders. The other vector and keyword candidates cannot reach the top
# k, and their rows are not read.
SHORTLIST = 60


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
    """The turns a recall searches: the agent's (of one user, or all), of the configured
    embedding model, within the request's filters."""
    return Scope(
        agent_id=resolved(request.agent_id),
        user_id=user_id,
        embedding_model=session.embedding_model,
        conversation_id=request.conversation_id,
        since=request.since,
        until=request.until,
        roles=request.roles,
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
    keywords = resources.background.submit(_keyword_matches, session, scope, query)
    query_vector = session.embed_query(query)
    keyword = dict(keywords.result())
    with session.read_transaction(scope.agent_id, scope.user_id) as tx:
        if scope.user_id is not None:
            _refuse_mixed_models(tx, scope)
        # Enough candidates that k remain once the excluded turns are left out.
        wanted = k + len(exclude)
        limit = max(wanted, tuning.vector_candidates)
        by_vector = search.nearest(tx, scope, query_vector, limit)
        own = _own_bounds(by_vector, keyword, limit, tuning)
        anchors = ranking.lenders(own, wanted)
        links: list[tuple[UUID, UUID, int]] = []
        if tuning.lends_to_neighbours(scope.user_id is not None):
            links = search.neighbours(tx, scope, anchors, tuning.neighbour_width)
        neighbours = {near for _, near, _ in links}
        # Zero scores included: a recall always returns min(k, turns in scope).
        pool = sorted(own, key=own.__getitem__, reverse=True)[: max(SHORTLIST, 3 * wanted)]
        rows = search.candidates(tx, scope, list({*pool, *neighbours}), query_vector)
        best = _best(tuning, query, rows, keyword, links, exclude, k)
        if request.min_score is not None:
            best = [hit for hit in best if hit[1] >= request.min_score]
        metadata = turns.metadata_of(tx, scope, [i for i, _, _ in best])
        audit.record(tx, session, scope, [i for i, _, _ in best])
    return [_hit(rows[i], metadata[i], score, parts) for i, score, parts in best]


def _best(
    tuning: ranking.RecallTuning,
    query: str,
    rows: dict[UUID, CandidateRow],
    keyword: dict[UUID, float],
    links: list[tuple[UUID, UUID, int]],
    exclude: Collection[UUID],
    k: int,
) -> list[tuple[UUID, float, ScoreParts]]:
    """The ``k`` best of ``rows`` but ``exclude`` (which still lend to their neighbours), each
    with its score, rounded once here so that ``min_score`` compares the very score a hit
    reports, and its parts. Ranking runs on row numbers, cheaper to hash than UUIDs."""
    ids = list(rows)
    number = {turn_id: n for n, turn_id in enumerate(ids)}
    candidates = [
        ranking.Candidate(
            row.similarity, keyword.get(i, 0.0), row.role, row.content, row.occurred_at
        )
        for i, row in rows.items()
    ]
    near = [(number[a], number[b], off) for a, b, off in links if a in number and b in number]
    scored = ranking.score_candidates(
        dict(enumerate(candidates)), near, ranking.months_named(query), tuning
    )
    left_out = {number[i] for i in exclude if i in number}
    rankable = {n: s for n, s in scored.items() if n not in left_out}
    best = ranking.top(rankable, dict(enumerate(c.when for c in candidates)), k)
    return [
        (ids[n], round(scored[n].score, 6), _parts(scored[n], candidates[n], tuning)) for n in best
    ]


def _own_bounds(
    by_vector: list[tuple[UUID, float]],
    keyword: dict[UUID, float],
    limit: int,
    tuning: ranking.RecallTuning,
) -> dict[UUID, float]:
    """Each candidate's own relevance, or a bound above it: a keyword match that was not among
    the vector candidates is no closer to the query than the last of them (when the vector
    stage stopped at its limit), so that similarity bounds its own."""
    similarity = dict(by_vector)
    beyond = by_vector[-1][1] if len(by_vector) >= limit else None
    return {
        i: ranking.own_relevance(similarity.get(i, beyond), keyword.get(i, 0.0), tuning)
        for i in similarity.keys() | keyword.keys()
    }


def _parts(
    scored: ranking.Scored, candidate: ranking.Candidate, tuning: ranking.RecallTuning
) -> ScoreParts:
    return ScoreParts(
        similarity=candidate.similarity,
        vector=ranking.vector_signal(candidate.similarity, tuning),
        keyword=candidate.keyword,
        act=scored.act,
        neighbour=scored.borrowed,
        month=scored.month,
    )


def _refuse_mixed_models(tx: TenantConnection, scope: Scope) -> None:
    """A recall over part of the memory must not pass for all of it: turns embedded with
    another model cannot be compared with this query's vector, so the scope is refused."""
    other = search.other_model(tx, scope)
    if other is not None:
        raise Conflict(
            f"this user's turns with the agent were embedded with {other!r} as well as "
            f"{scope.embedding_model!r}, whose vectors cannot be compared; configure "
            f"{other!r} again or re-embed the turns (docs/operations.md, 'Switching a tenant "
            "to another model')"
        )


def _keyword_matches(session: Session, scope: Scope, query: str) -> list[tuple[UUID, float]]:
    with session.read_transaction(scope.agent_id, scope.user_id) as tx:
        return search.keyword_matches(tx, scope, query, session.resources.tuning.keyword_candidates)


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
