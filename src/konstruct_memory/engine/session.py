"""A session of one tenant principal: its transactions, the embedder, the deployment's limits.

Embedding happens outside transactions, so no connection is held while the model runs. Reads
open ``read_transaction`` (a replica when one is fit, else the primary); writes that readers
must then see open ``write_transaction`` (which records where the primary's WAL stood).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar
from uuid import UUID

from konstruct_memory import tracing
from konstruct_memory.auth.principal import Principal
from konstruct_memory.config import Settings
from konstruct_memory.db.replicas import ERASED, position_after_commit
from konstruct_memory.db.tenant import TenantConnection, tenant_transaction, tenant_transaction_on
from konstruct_memory.embed import Embedder, Vectors
from konstruct_memory.embed.windows import Windowed
from konstruct_memory.engine.resources import Resources
from konstruct_memory.errors import Forbidden, InvalidInput, KonstructMemoryError
from konstruct_memory.store import lifecycle

T = TypeVar("T")


def resolved(value: T | None) -> T:
    """An id the access check guarantees: a request's agent or user (``access.authorize``
    fills them in from the key's binding or refuses the request), a tenant principal's tenant.
    Never None past that point."""
    if value is None:
        raise KonstructMemoryError("a request reached the engine without its agent, user or tenant")
    return value


class Session:
    """One tenant principal's work: its transactions, the embedder, the deployment's limits."""

    def __init__(self, resources: Resources, principal: Principal, seen: int | None = None) -> None:
        if principal.tenant_id is None:
            raise Forbidden("this operation needs a tenant API key, not the admin token")
        self.resources = resources
        self.principal = principal
        self.tenant_id = principal.tenant_id
        # The consistency token: a write position the caller saw (perhaps through another
        # process) that reads must see; and the position this session's writes committed at.
        self.seen = seen
        self.committed: int | None = None

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    @property
    def embedding_model(self) -> str:
        return self.resources.embedder.model_name

    @contextmanager
    def transaction(self) -> Iterator[TenantConnection]:
        started = time.perf_counter()
        try:
            with tenant_transaction(self.resources.pool, self.tenant_id) as tx:
                yield tx
        finally:
            self.resources.observer.database(time.perf_counter() - started)

    @contextmanager
    def read_transaction(
        self, agent_id: UUID | None = None, user_id: str | None = None
    ) -> Iterator[TenantConnection]:
        """A transaction for a read of (agent, user) (None: any of the tenant's): on a replica
        that is fit and has replayed this process's writes to the scope, else the primary.
        Audited reads stay on the primary, which alone can write their audit row."""
        replicas = self.resources.replicas
        if replicas is None or self._reads_audited():
            self.resources.observer.read_served("primary")
            with self.transaction() as tx:
                yield tx
            return
        written_here = replicas.positions.needed(self.tenant_id, agent_id, user_id)
        needed = max((p for p in (written_here, self.seen) if p is not None), default=None)
        started = time.perf_counter()
        try:
            with replicas.connection(needed) as conn:
                if conn is None:
                    self.resources.observer.read_served("primary")
                    with tenant_transaction(self.resources.pool, self.tenant_id) as tx:
                        yield tx
                else:
                    self.resources.observer.read_served("replica")
                    with tenant_transaction_on(conn, self.tenant_id, on_replica=True) as tx:
                        yield tx
        finally:
            self.resources.observer.database(time.perf_counter() - started)

    @contextmanager
    def write_transaction(
        self, written: Sequence[tuple[UUID, str | None]] = ()
    ) -> Iterator[TenantConnection]:
        """A transaction on the primary whose commit later reads of the ``written`` (agent,
        user) scopes must see (none given: an erasure, which every read must see). Its
        position becomes ``committed``: the caller's token for reads through other processes."""
        replicas = self.resources.replicas
        started = time.perf_counter()
        try:
            with self.resources.pool.connection() as conn:
                with tenant_transaction_on(conn, self.tenant_id) as tx:
                    yield tx
                lsn = position_after_commit(conn)
        finally:
            self.resources.observer.database(time.perf_counter() - started)
        if lsn is None:
            return
        self.committed = max(lsn, self.committed or 0)
        if replicas is not None:
            scopes: list[tuple[object, object]] = list(written) or [(ERASED, None)]
            replicas.positions.record(self.tenant_id, scopes, lsn)

    def _reads_audited(self) -> bool:
        if self.principal.audit_reads is not None:
            return self.principal.audit_reads
        with self.transaction() as tx:  # the owner's view authenticates no key: ask
            return lifecycle.reads_audited(tx)

    def embed(self, texts: list[str]) -> Vectors:
        return self._timed(self.resources.embedder.embed, texts)

    def embed_turns(self, texts: list[str], embedder: Embedder | None = None) -> Windowed:
        """Turns' vectors (of the configured model, or ``embedder``'s), with the window vectors
        of long turns where the embedder cuts texts into windows (the local models); others
        (an HTTP endpoint) give no windows."""
        embedder = embedder or self.resources.embedder
        windowed_embed = getattr(embedder, "embed_windowed", None)
        started = time.perf_counter()
        try:
            with tracing.stage("embed turns"):
                if windowed_embed is not None:
                    result: Windowed = windowed_embed(texts)
                    return result
                return Windowed(embedder.embed(texts))
        finally:
            self.resources.observer.embedding(time.perf_counter() - started)

    def embed_query(self, text: str, embedder: Embedder | None = None) -> Vectors:
        """A query's vector (of the configured model, or ``embedder``'s): with the model's
        query prefix where the embedder has one."""
        embedder = embedder or self.resources.embedder
        with tracing.stage("embed query"):
            vectors = self._timed(getattr(embedder, "embed_queries", embedder.embed), [text])
        vector: Vectors = vectors[0]
        return vector

    def _timed(self, embed: Callable[[list[str]], Vectors], texts: list[str]) -> Vectors:
        started = time.perf_counter()
        try:
            return embed(texts)
        finally:
            self.resources.observer.embedding(time.perf_counter() - started)

    def check_size(self, text: str, field_name: str) -> None:
        """The deployment's limit on content and queries (KONSTRUCT_MEMORY_MAX_CONTENT_BYTES)."""
        limit = self.settings.max_content_bytes
        size = len(text.encode("utf-8"))
        if size > limit:
            raise InvalidInput(field_name, f"is {size} bytes of UTF-8, the limit is {limit}")
