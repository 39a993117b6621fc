"""The memory service: remember, recall, history and context for one tenant at a time.

``Memory`` owns the pool and the embedder; ``Memory.tenant(id)`` gives a ``TenantMemory``
whose every call runs inside ``tenant_transaction`` for that tenant. Embedding happens outside
transactions, so no connection is held while the model runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import numpy as np
from psycopg_pool import ConnectionPool

from konstruct_memory import idempotency, ranking, store
from konstruct_memory.config import Settings
from konstruct_memory.context import TokenCounter, render_context
from konstruct_memory.db import Connection, tenant_transaction
from konstruct_memory.embed import Embedder, Vectors
from konstruct_memory.errors import InvalidInput, NotFound
from konstruct_memory.models import (
    MAX_CONVERSATION_ID_CHARS,
    MAX_USER_ID_CHARS,
    Context,
    Hit,
    StoredTurn,
    Turn,
    ValidTurn,
    check_identifier,
    check_limit,
    check_query,
    check_roles,
    parse_timestamp,
    parse_uuid,
    validate_turn,
)

MAX_K = 100
MAX_HISTORY = 1000


@dataclass(frozen=True)
class RecallTuning:
    """Knobs of hybrid recall; the defaults are what the retrieval benchmark chose."""

    vector_candidates: int = 60
    keyword_candidates: int = 60
    vector_weight: float = 1.0
    keyword_weight: float = 1.0
    neighbour_share: float = 0.5
    neighbour_width: int = 2
    rrf_k: float = ranking.RRF_K


class Observer(Protocol):
    """Receives timings (seconds), e.g. for metrics. The default does nothing."""

    def embedding(self, seconds: float) -> None: ...

    def database(self, seconds: float) -> None: ...


class NullObserver:
    def embedding(self, seconds: float) -> None:
        pass

    def database(self, seconds: float) -> None:
        pass


class TenantMemory:
    """Memory as one tenant sees it. Obtain it with ``Memory.tenant(tenant_id)``."""

    def __init__(
        self,
        pool: ConnectionPool[Connection],
        embedder: Embedder,
        tenant_id: UUID,
        settings: Settings,
        token_counter: TokenCounter,
        tuning: RecallTuning,
        background: Executor,
        observer: Observer | None = None,
    ) -> None:
        self._pool = pool
        self._background = background
        self._embedder = embedder
        self.tenant_id = tenant_id
        self._settings = settings
        self._tokens = token_counter
        self.tuning = tuning
        self._observer = observer or NullObserver()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        started = time.perf_counter()
        try:
            with tenant_transaction(self._pool, self.tenant_id) as conn:
                yield conn
        finally:
            self._observer.database(time.perf_counter() - started)

    def _embed(self, texts: Sequence[str]) -> Vectors:
        started = time.perf_counter()
        try:
            return self._embedder.embed(texts)
        finally:
            self._observer.embedding(time.perf_counter() - started)

    # -- writing ----------------------------------------------------------------------------

    def remember(self, turns: Sequence[Turn | Mapping[str, Any]]) -> list[StoredTurn]:
        """Store a batch of turns atomically; returns them as stored, in input order.

        A turn whose ``id`` is already stored with the same fields is not stored again and
        comes back as it was first stored; the same ``id`` with other fields raises Conflict.
        """
        if isinstance(turns, Turn | Mapping) or not isinstance(turns, Sequence):
            raise InvalidInput("turns", "must be a list of turns")
        limit = self._settings.max_batch_turns
        if not 1 <= len(turns) <= limit:
            raise InvalidInput("turns", f"must hold 1 to {limit} turns, got {len(turns)}")
        valid = [
            validate_turn(t, f"turns[{i}]", max_content_bytes=self._settings.max_content_bytes)
            for i, t in enumerate(turns)
        ]
        ids = idempotency.assign_ids(valid)
        # Only an id the caller chose can already be stored (a retry); generated ones are new.
        chosen = [turn.id for turn in valid if turn.id is not None]
        stored: dict[UUID, dict[str, Any]] = {}
        if chosen:
            with self._transaction() as conn:
                stored = store.turns_by_ids(conn, self.tenant_id, chosen)
        idempotency.check_retries(valid, ids, stored)
        new = idempotency.unique_new(valid, ids, stored)
        vectors = self._vectors_for([turn for _, turn in new])
        with self._transaction() as conn:
            inserted = store.insert_turns(
                conn, self.tenant_id, self._embedder.model_name, new, vectors
            )
            rows = store.turns_by_ids(conn, self.tenant_id, ids)
            # A concurrent request may have stored one of our ids in between: same rule.
            raced = {turn_id for turn_id, _ in new} - inserted
            idempotency.check_retries(valid, ids, {i: rows[i] for i in raced if i in rows})
        return [_stored_turn(rows[turn_id]) for turn_id in ids]

    def remember_one(self, turn: Turn | Mapping[str, Any]) -> StoredTurn:
        """``remember`` for a single turn."""
        return self.remember([turn])[0]

    def _vectors_for(self, turns: Sequence[ValidTurn]) -> Vectors:
        vectors = np.empty((len(turns), self._embedder.dimension), dtype=np.float32)
        to_embed = [i for i, t in enumerate(turns) if t.embedding is None]
        if to_embed:
            vectors[to_embed] = self._embed([turns[i].content for i in to_embed])
        for i, turn in enumerate(turns):
            if turn.embedding is not None:
                vectors[i] = turn.embedding
        return vectors

    # -- reading ----------------------------------------------------------------------------

    def recall(
        self,
        agent_id: UUID | str,
        user_id: str,
        query: str,
        k: int = 10,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        conversation_id: str | None = None,
        roles: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The ``k`` older turns of this (agent, user) most relevant to ``query``, best first.

        Always min(k, turns in scope) hits. Relevance fuses vector similarity with keyword
        (full-text) matches, and lends part of a turn's score to its neighbours.
        """
        scope = self._scope(agent_id, user_id, since, until, conversation_id, roles)
        return self._recall(scope, query, k)

    def recall_across_users(
        self,
        agent_id: UUID | str,
        query: str,
        k: int = 10,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        conversation_id: str | None = None,
        roles: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Like ``recall``, over every user of the agent. Never the default: ask for it."""
        scope = self._scope(agent_id, None, since, until, conversation_id, roles)
        return self._recall(scope, query, k)

    def history(
        self,
        agent_id: UUID | str,
        user_id: str,
        limit: int = 20,
        conversation_id: str | None = None,
        before: UUID | str | None = None,
    ) -> list[StoredTurn]:
        """The newest ``limit`` turns, oldest first. Page back with ``before=<oldest id>``."""
        limit = check_limit(limit, "limit", 1, MAX_HISTORY)
        cursor = None if before is None else parse_uuid(before, "before")
        scope = self._scope(agent_id, user_id, None, None, conversation_id, None, model=False)
        with self._transaction() as conn:
            if cursor is not None and not store.cursor_exists(conn, scope, cursor):
                raise NotFound("before: no such turn in this conversation")
            rows = store.history(conn, scope, limit, cursor)
        return [_stored_turn(row) for row in reversed(rows)]

    def context(
        self,
        agent_id: UUID | str,
        user_id: str,
        query: str,
        recent: int = 10,
        k: int = 5,
        max_tokens: int | None = None,
        conversation_id: str | None = None,
    ) -> Context:
        """Recent turns, older relevant turns not among them, and a prompt-ready block.

        ``conversation_id`` narrows the recent window to one thread; recalled turns come from
        all of the user's threads with this agent. With ``max_tokens`` the block fits the
        budget: the least relevant recalled turns go first, then the oldest recent ones; the
        newest turn is always kept. Tokens are counted with the all-MiniLM-L6-v2 WordPiece
        tokenizer (offline).
        """
        recent = check_limit(recent, "recent", 0, MAX_HISTORY)
        k = check_limit(k, "k", 0, MAX_K)
        if max_tokens is not None:
            max_tokens = check_limit(max_tokens, "max_tokens", 1, 1_000_000)
        window = (
            self.history(agent_id, user_id, recent, conversation_id=conversation_id)
            if recent
            else []
        )
        recalled: list[Hit] = []
        if k:
            shown = {turn.id for turn in window}
            # Ask for enough that k remain after dropping what the window already shows.
            scope = self._scope(agent_id, user_id, None, None, None, None)
            hits = self._ranked(scope, check_query(query, "query", self._max_bytes), k + len(shown))
            recalled = [hit for hit in hits if hit.id not in shown][:k]
        return render_context(window, recalled, max_tokens, self._tokens)

    # -- internals --------------------------------------------------------------------------

    def _scope(
        self,
        agent_id: UUID | str,
        user_id: str | None,
        since: datetime | str | None,
        until: datetime | str | None,
        conversation_id: str | None,
        roles: Sequence[str] | None,
        *,
        model: bool = True,
    ) -> store.Scope:
        return store.Scope(
            tenant_id=self.tenant_id,
            agent_id=parse_uuid(agent_id, "agent_id"),
            user_id=None
            if user_id is None
            else check_identifier(user_id, "user_id", MAX_USER_ID_CHARS),
            embedding_model=self._embedder.model_name if model else None,
            conversation_id=None
            if conversation_id is None
            else check_identifier(conversation_id, "conversation_id", MAX_CONVERSATION_ID_CHARS),
            since=None if since is None else parse_timestamp(since, "since"),
            until=None if until is None else parse_timestamp(until, "until"),
            roles=check_roles(roles, "roles"),
        )

    @property
    def _max_bytes(self) -> int:
        return self._settings.max_content_bytes

    def _recall(self, scope: store.Scope, query: str, k: int) -> list[Hit]:
        k = check_limit(k, "k", 1, MAX_K)
        return self._ranked(scope, check_query(query, "query", self._max_bytes), k)

    def _ranked(self, scope: store.Scope, query: str, k: int) -> list[Hit]:
        """The best ``k`` turns of the scope for ``query`` (arguments already validated)."""
        t = self.tuning
        # Keyword matching needs only the text: the database runs it while the query is being
        # embedded, so a recall costs max(embedding, keywords) rather than their sum.
        keywords = self._background.submit(self._keyword_matches, scope, query)
        query_vector = self._embed([query])[0]
        by_keyword = keywords.result()
        with self._transaction() as conn:
            by_vector = store.nearest(conn, scope, query_vector, max(k, t.vector_candidates))
            scores = ranking.reciprocal_rank_fusion(
                [
                    (t.vector_weight, [i for i, _ in by_vector]),
                    (t.keyword_weight, [i for i, _ in by_keyword]),
                ],
                k=t.rrf_k,
            )
            if t.neighbour_share > 0 and scope.user_id is not None:
                anchors = ranking.top(scores, max(k, 20), {})
                links = store.neighbours(conn, self.tenant_id, anchors, t.neighbour_width)
                scores = ranking.spread_to_neighbours(scores, links, t.neighbour_share)
            rows = store.hit_rows(conn, self.tenant_id, list(scores))
        # Neighbours can lie outside the filters (time, role, thread): keep only the scope's.
        scores = {i: s for i, s in scores.items() if i in rows and _in_scope(rows[i], scope)}
        recency = {i: rows[i]["occurred_at"].timestamp() for i in scores}
        return [_hit(rows[i], scores[i]) for i in ranking.top(scores, k, recency)]

    def _keyword_matches(self, scope: store.Scope, query: str) -> list[tuple[UUID, float]]:
        with self._transaction() as conn:
            return store.keyword_matches(conn, scope, query, self.tuning.keyword_candidates)


def _in_scope(row: Mapping[str, Any], scope: store.Scope) -> bool:
    return (
        (scope.conversation_id is None or row["conversation_id"] == scope.conversation_id)
        and (scope.since is None or row["occurred_at"] >= scope.since)
        and (scope.until is None or row["occurred_at"] < scope.until)
        and (not scope.roles or row["role"] in scope.roles)
        and (scope.user_id is None or row["user_id"] == scope.user_id)
    )


def _stored_turn(row: Mapping[str, Any]) -> StoredTurn:
    return StoredTurn(
        id=row["id"],
        agent_id=row["agent_id"],
        user_id=row["user_id"],
        role=row["role"],
        content=row["content"],
        conversation_id=row["conversation_id"],
        occurred_at=row["occurred_at"],
        created_at=row["created_at"],
        metadata=row["metadata"],
    )


def _hit(row: Mapping[str, Any], score: float) -> Hit:
    return Hit(
        id=row["id"],
        role=row["role"],
        content=row["content"],
        occurred_at=row["occurred_at"],
        conversation_id=row["conversation_id"],
        score=round(score, 6),
        user_id=row["user_id"],
    )
