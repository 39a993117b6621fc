"""The Python library: ``Memory`` opens the database and the embedder and administers tenants;
``TenantMemory`` (``tenant_memory.py``) is a tenant as one principal sees it. Each method
builds the operation's request model and runs it through the engine, exactly as the HTTP
routes do (the administration methods are declared in ``methods.AdminMethods``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from uuid import UUID

import psycopg
from psycopg_pool import PoolTimeout
from pydantic_core import PydanticCustomError

from konstruct_memory.auth.principal import ADMINISTRATOR, Principal, authenticate_key
from konstruct_memory.closing import Closing
from konstruct_memory.config import Settings
from konstruct_memory.embed import Embedder
from konstruct_memory.engine import admin, erasure, model_switch
from konstruct_memory.engine.ranking import RecallTuning
from konstruct_memory.engine.resources import Observer, Resources
from konstruct_memory.engine.retention import RetentionReport
from konstruct_memory.engine.service import Engine
from konstruct_memory.errors import ConfigurationError, InvalidInput, Unavailable
from konstruct_memory.methods import AdminMethods, BlockingFace
from konstruct_memory.operations.base import R, Request
from konstruct_memory.operations.fields import parse_uuid
from konstruct_memory.operations.lifecycle import LedgerEntry
from konstruct_memory.store import health, maintenance, vector_index
from konstruct_memory.tenant_memory import TenantMemory
from konstruct_memory.types import TenantId

__all__ = ["Memory", "TenantMemory"]


class Memory(BlockingFace, AdminMethods, Closing):
    """Long-term memory over one database: the library's face over ``Resources``, which own
    the pool, the embedder and the workers (``memory.resources``), and the engine that runs
    every operation on them.

    >>> with Memory.open() as memory:                        # embedded server, local model
    ...     acme = memory.tenant(memory.create_tenant("acme").id)
    ...     acme.remember([{"agent_id": agent, "user_id": "U1", "role": "user",
    ...                     "content": "My dog is called Biscuit"}])
    ...     acme.recall(agent, "U1", "what is my dog's name?")
    """

    def __init__(self, resources: Resources, engine: Engine | None = None) -> None:
        self.resources = resources
        self.engine = engine or Engine(resources)

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        auto_migrate: bool = True,
        tuning: RecallTuning | None = None,
        observer: Observer | None = None,
        serving: bool = False,
    ) -> Memory:
        """Connect (starting the embedded server if no URL is configured), migrate, verify the
        runtime role cannot bypass row-level security, and load the embedder; ``serving``
        also runs what a long-running service needs (``Resources.open``). Closing the memory
        closes them all."""
        resources = Resources.open(
            settings or Settings(),
            embedder=embedder,
            auto_migrate=auto_migrate,
            tuning=tuning,
            observer=observer,
            serving=serving,
        )
        try:
            _catch_up_ledger(resources)
        except BaseException:
            resources.close()
            raise
        return cls(resources)

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    def tenant(self, tenant_id: TenantId) -> TenantMemory:
        """Memory as the tenant's owner sees it; every call is confined to that tenant."""
        return TenantMemory(self.engine, Principal.owner(_uuid(tenant_id, "tenant_id")))

    def acting_as(self, principal: Principal) -> TenantMemory:
        """Memory as ``principal`` (e.g. from ``authenticate``) may see and change it."""
        return TenantMemory(self.engine, principal)

    def authenticate(self, api_key: str) -> Principal | None:
        """The principal of a live API key, or None (unknown, malformed or revoked). While the
        primary does not answer, a replica answers (reads go on; a key revoked in the last
        moments before the outage may not have reached it)."""
        try:
            return authenticate_key(self.resources.pool, api_key)
        except (PoolTimeout, psycopg.OperationalError):
            replicas = self.resources.replicas
            standby = replicas.authenticating_pool() if replicas is not None else None
            if standby is None:
                raise
            return authenticate_key(standby, api_key)

    # -- administration (owner connection): the methods of ``AdminMethods`` ----------------

    def _execute(self, request: Request[R]) -> R:
        return self.engine.run(ADMINISTRATOR, request)

    # -- the data lifecycle (erasure ledger, retention, VACUUM) -----------------------------

    def apply_retention(self, batch: int | None = None) -> RetentionReport:
        """Remove, in batches of ``batch`` turns, what every tenant's window no longer keeps."""
        return self.resources.apply_retention(batch)

    def export_erasures(self) -> list[LedgerEntry]:
        """Every tenant's erasure ledger (owner connection): keep it apart from backups."""
        return erasure.export_ledger(self.resources)

    def replay_erasures(self, entries: Iterable[LedgerEntry]) -> erasure.ReplayReport:
        """Re-apply the exported erasures a restored backup predates (see ``erasure.replay``)."""
        return erasure.replay(self.resources, entries)

    def vacuum(
        self,
        cost_delay_ms: float | None = None,
        cost_limit: int | None = None,
        niceness: int | None = None,
    ) -> None:
        """VACUUM the tables erasure and retention remove rows from, now, whatever
        KONSTRUCT_MEMORY_VACUUM_WINDOW says (owner connection), throttled like the VACUUM
        after removals (KONSTRUCT_MEMORY_VACUUM_COST_DELAY_MS, _COST_LIMIT, _NICENESS) unless
        these are given: ``cost_delay_ms=0, niceness=0`` runs it unthrottled."""
        if self.resources.vacuum is None:
            raise ConfigurationError(
                "VACUUM needs the owner connection: set KONSTRUCT_MEMORY_ADMIN_DATABASE_URL"
            )
        self.resources.vacuum.run_now(cost_delay_ms, cost_limit, niceness)

    def switch_model(
        self,
        tenant_id: TenantId,
        to: str,
        *,
        batch: int = model_switch.BATCH,
        progress: model_switch.Progress | None = None,
    ) -> model_switch.SwitchReport:
        """Switch the tenant's reads to another embedding model (``to``: a local model's
        directory, or the configured model's name) without changing any turn or id: its turns
        are embedded beside them, its reads flip once every turn has a vector, then the old
        model's vectors are erased (ledger kind ``model``). Stop it anywhere and run it again:
        it goes on from where it stood (``engine.model_switch``)."""
        tenant = _uuid(tenant_id, "tenant_id")
        return model_switch.switch(self.resources, tenant, to, batch=batch, progress=progress)

    # -- the vector index (owner connection, outside transactions) -------------------------

    def vector_index_state(self) -> vector_index.State:
        with admin.owner_connection(self.resources, autocommit=True) as conn:
            return vector_index.state(conn)

    def drop_vector_index(self) -> None:
        """Drop the HNSW indexes ahead of a bulk load; recall of large scopes goes exact
        meanwhile."""
        with admin.owner_connection(self.resources, autocommit=True) as conn:
            vector_index.drop(conn)

    def build_vector_index(
        self, maintenance_work_mem: str = "2GB", *, rebuild: bool = False
    ) -> vector_index.State:
        """Build the HNSW indexes that are missing (``rebuild``: or whose graph is older than
        this release's), without blocking reads or writes."""
        with admin.owner_connection(self.resources, autocommit=True) as conn:
            return vector_index.build(conn, maintenance_work_mem, rebuild=rebuild)

    @contextmanager
    def vector_index_deferred(self, maintenance_work_mem: str = "2GB") -> Iterator[None]:
        """Bulk-load inside this block: the HNSW indexes (turns, windows of long turns) are
        dropped on entry and rebuilt on exit (also when the block fails), which is far faster
        than maintaining them row by row; then the loaded tables are analysed, so that the
        first reads are planned on the new rows' statistics."""
        self.drop_vector_index()
        try:
            yield
        finally:
            self.build_vector_index(maintenance_work_mem)
            with admin.owner_connection(self.resources, autocommit=True) as conn:
                maintenance.analyze(conn)

    # -- lifecycle --------------------------------------------------------------------------

    def check_health(self, timeout: float = 0.5) -> None:
        """Raise Unavailable, saying why, unless the database answers within ``timeout``."""
        try:
            with self.resources.pool.connection(timeout=timeout) as conn:
                health.probe(conn)
        except PoolTimeout:
            raise Unavailable(f"database unavailable: no connection within {timeout} s") from None
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Unavailable(f"database unavailable: {reason}") from None

    def close(self) -> None:
        """Stop the workers and close the connections (``Resources.close``)."""
        self.resources.close()


def _uuid(value: TenantId, name: str) -> UUID:
    try:
        return parse_uuid(value)
    except PydanticCustomError as exc:
        raise InvalidInput(name, exc.message()) from None


def _catch_up_ledger(resources: Resources) -> None:
    """With KONSTRUCT_MEMORY_LEDGER_EXPORT, append the ledger entries the file lacks (an entry
    whose process stopped between its commit and its append)."""
    if resources.ledger is None:
        return
    if resources.admin_url is None:
        raise ConfigurationError(
            "KONSTRUCT_MEMORY_LEDGER_EXPORT needs the owner connection to read every tenant's "
            "ledger: set KONSTRUCT_MEMORY_ADMIN_DATABASE_URL as well"
        )
    resources.ledger.catch_up(erasure.export_ledger(resources))
