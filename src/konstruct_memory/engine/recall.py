"""Recall: the turns of a scope most relevant to a query. Fetches what ``ranking`` decides on.

The keyword stage needs only the text: it runs in the database (on a second pooled connection)
while the query is being embedded, so a recall costs max(embedding, keywords) rather than their
sum (measured in BENCHMARKS.md, "HTTP").
"""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from konstruct_memory.engine import ranking
from konstruct_memory.engine.audit import ReadAudit
from konstruct_memory.engine.session import Session, resolved
from konstruct_memory.operations import Hit, RecallAcrossUsersRequest, Recalled, RecallRequest
from konstruct_memory.store import search
from konstruct_memory.store.rows import CandidateRow
from konstruct_memory.store.scope import Scope


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
    leaving out ``exclude``; recorded by ``audit`` in the transaction that read them."""
    k = request.k if k is None else k
    query = request.query
    session.check_size(query, "query")
    resources = session.resources
    tuning = resources.tuning
    keywords = resources.background.submit(_keyword_matches, session, scope, query)
    query_vector = session.embed([query])[0]
    by_keyword = keywords.result()
    with session.transaction() as tx:
        # Enough candidates that k remain once the excluded turns are left out.
        wanted = k + len(exclude)
        by_vector = search.nearest(tx, scope, query_vector, max(wanted, tuning.vector_candidates))
        scores = ranking.fuse(tuning, by_vector, by_keyword)
        if tuning.lends_to_neighbours(scope.user_id is not None):
            anchors = ranking.lenders(scores, wanted)
            links = search.neighbours(tx, anchors, tuning.neighbour_width)
            scores = ranking.spread_to_neighbours(scores, links, tuning.neighbour_share)
        rows = search.candidates(tx, scope, list(scores))
        scores = ranking.boost_months(
            scores,
            {i: row.occurred_at for i, row in rows.items()},
            ranking.months_named(query),
            tuning.month_boost,
        )
        recency = {i: row.occurred_at.timestamp() for i, row in rows.items()}
        in_scope = {i: s for i, s in scores.items() if i in rows and i not in exclude}
        best = ranking.top(in_scope, k, recency)
        audit.record(tx, session, scope, best)
    return [_hit(rows[i], in_scope[i]) for i in best]


def _keyword_matches(session: Session, scope: Scope, query: str) -> list[tuple[UUID, float]]:
    with session.transaction() as tx:
        return search.keyword_matches(tx, scope, query, session.resources.tuning.keyword_candidates)


def _hit(row: CandidateRow, score: float) -> Hit:
    return Hit.model_construct(
        id=row.id,
        user_id=row.user_id,
        role=row.role,
        content=row.content,
        occurred_at=row.occurred_at,
        conversation_id=row.conversation_id,
        score=round(score, 6),
    )
