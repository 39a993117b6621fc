"""What operations share: the process's resources, and a session of one tenant principal.

Embedding happens outside transactions, so no connection is held while the model runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from psycopg_pool import ConnectionPool

from konstruct_memory.auth.principal import Principal
from konstruct_memory.config import Settings
from konstruct_memory.db.tenant import Connection, TenantConnection, tenant_transaction
from konstruct_memory.embed import Embedder, Vectors
from konstruct_memory.engine.prompt import TokenCounter
from konstruct_memory.engine.ranking import RecallTuning
from konstruct_memory.errors import Forbidden, InvalidInput, KonstructMemoryError

if TYPE_CHECKING:
    from konstruct_memory.engine.retention import Vacuum

T = TypeVar("T")


def resolved(value: T | None) -> T:
    """An id the access check guarantees: a request's agent or user (``access.authorize``
    fills them in from the key's binding or refuses the request), a tenant principal's tenant.
    Never None past that point."""
    if value is None:
        raise KonstructMemoryError("a request reached the engine without its agent, user or tenant")
    return value


class Observer(Protocol):
    """Receives timings (seconds), e.g. for metrics. The default does nothing."""

    def embedding(self, seconds: float) -> None: ...

    def database(self, seconds: float) -> None: ...


class NullObserver:
    def embedding(self, seconds: float) -> None:
        pass

    def database(self, seconds: float) -> None:
        pass


@dataclass
class Resources:
    """Everything an operation may use, built once per process (``Memory.open``)."""

    pool: ConnectionPool[Connection]
    embedder: Embedder
    settings: Settings
    tokens: TokenCounter
    background: Executor  # runs a recall's keyword stage while its query is embedded
    admin_url: str | None = None
    tuning: RecallTuning = field(default_factory=RecallTuning)
    observer: Observer = field(default_factory=NullObserver)
    vacuum: Vacuum | None = None  # reclaims removed rows soon after an erasure (owner URL)
    erasure_key: bytes | None = None  # read on first use (``erasure.key_of``)


class Session:
    """One tenant principal's work: its transactions, the embedder, the deployment's limits."""

    def __init__(self, resources: Resources, principal: Principal) -> None:
        if principal.tenant_id is None:
            raise Forbidden("this operation needs a tenant API key, not the admin token")
        self.resources = resources
        self.principal = principal
        self.tenant_id = principal.tenant_id

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

    def embed(self, texts: list[str]) -> Vectors:
        return self._timed(self.resources.embedder.embed, texts)

    def embed_query(self, text: str) -> Vectors:
        """A query's vector: with the model's query prefix where the embedder has one."""
        embedder = self.resources.embedder
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
