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
    query_vector = session.embed_query(query)
    by_keyword = keywords.result()
    with session.read_transaction(scope.agent_id, scope.user_id) as tx:
        if scope.user_id is not None:
            _refuse_mixed_models(tx, scope)
        # Enough candidates that k remain once the excluded turns are left out.
        wanted = k + len(exclude)
        by_vector = search.nearest(tx, scope, query_vector, max(wanted, tuning.vector_candidates))
        fused = ranking.fuse(tuning, by_vector, by_keyword)
        lent = fused
        if tuning.lends_to_neighbours(scope.user_id is not None):
            anchors = ranking.lenders(fused, wanted)
            links = search.neighbours(tx, anchors, tuning.neighbour_width)
            lent = ranking.spread_to_neighbours(fused, links, tuning.neighbour_share)
        rows = search.candidates(tx, scope, list(lent))
        when = {i: row.occurred_at for i, row in rows.items()}
        in_months = ranking.in_named_months(when, ranking.months_named(query))
        scores = ranking.boost(lent, in_months, tuning.month_boost)
        in_scope = {i: s for i, s in scores.items() if i in rows and i not in exclude}
        best = ranking.top(in_scope, k, {i: at.timestamp() for i, at in when.items()})
        metadata = turns.metadata_of(tx, best)
        audit.record(tx, session, scope, best)
    bound = ranking.score_bound(tuning, bool(in_months))
    base = ranking.score_bound(tuning, month_named=False)
    similarity = dict(by_vector)
    vector, keyword = ranking.normalised(by_vector), ranking.normalised(by_keyword)
    return [
        _hit(
            rows[i],
            metadata[i],
            in_scope[i] / bound,
            ScoreParts(
                similarity=similarity.get(i),
                vector=vector.get(i, 0.0),
                keyword=keyword.get(i, 0.0),
                neighbour=lent[i] / base if lent[i] > fused.get(i, 0.0) else 0.0,
                month=i in in_months,
            ),
        )
        for i in best
    ]


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
        score=round(score, 6),
        parts=parts,
        metadata=metadata,
    )
