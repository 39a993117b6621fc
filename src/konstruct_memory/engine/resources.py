"""``Resources``: what every operation uses, and the workers behind it, owned as one.

``Resources.open(settings)`` finds the database (starting the embedded server when no URL is
configured), migrates it, opens the pool and loads the embedder, then starts the workers: the
read replicas' monitor, the threads that run a recall's keyword stage while its query is
embedded, the background VACUUM and, for a long-running service (``serving``), the embedded
server's supervisor and the retention schedule. ``close()``, or the end of its ``with`` block,
stops and closes them in the reverse order. Like psycopg's ``ConnectionPool`` with its own
workers, it alone starts and stops what it owns, and a failed open closes again whatever it had
opened.

Nothing in it changes once it is open. A copy made with ``dataclasses.replace`` (another
recall tuning, say) shares the original's pool and workers and closes none of them.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol
from uuid import UUID

from psycopg_pool import ConnectionPool

from konstruct_memory import embed, keyfiles
from konstruct_memory.closing import Closing
from konstruct_memory.config import Settings
from konstruct_memory.db import runtime, urls
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.embedded.supervisor import EmbeddedSupervisor
from konstruct_memory.db.leadership import RETENTION_SCHEDULE, Leadership
from konstruct_memory.db.replicas import ReplicaSet
from konstruct_memory.db.tenant import Connection, use_tenant_switch
from konstruct_memory.db.vacuum import Vacuum
from konstruct_memory.embed import Embedder
from konstruct_memory.embed.model_files import model_dir
from konstruct_memory.embed.registry import Embedders
from konstruct_memory.engine import retention
from konstruct_memory.engine.ledger_file import LedgerFile, entry_of, erasure_of
from konstruct_memory.engine.prompt import TokenCounter
from konstruct_memory.engine.ranking import RecallTuning
from konstruct_memory.store import maintenance
from konstruct_memory.store.models import NEVER_SWITCHED, TenantModels
from konstruct_memory.store.rows import ErasureRow


class Observer(Protocol):
    """Receives timings (seconds), e.g. for metrics. The default does nothing."""

    def embedding(self, seconds: float) -> None: ...

    def database(self, seconds: float) -> None: ...

    def read_served(self, by: str) -> None:
        """A read ran on ``by``: 'replica' or 'primary'."""


class NullObserver:
    def embedding(self, seconds: float) -> None:
        pass

    def database(self, seconds: float) -> None:
        pass

    def read_served(self, by: str) -> None:
        pass


class KnownModels:
    """The tenants' models as this process last read them: which model to embed a query with
    before its transaction says (``engine.models``). A tenant never seen reads as never
    switched; the transaction corrects a stale entry."""

    def __init__(self) -> None:
        self._models: dict[UUID, TenantModels] = {}
        self._lock = threading.Lock()

    def get(self, tenant_id: UUID) -> TenantModels:
        return self._models.get(tenant_id, NEVER_SWITCHED)

    def put(self, tenant_id: UUID, models: TenantModels) -> None:
        if self._models.get(tenant_id) != models:
            with self._lock:
                self._models[tenant_id] = models


@dataclass(frozen=True)
class Resources(Closing):
    """Everything an operation may use, opened once per process (``Resources.open``)."""

    pool: ConnectionPool[Connection]
    embedder: Embedder
    settings: Settings
    tokens: TokenCounter
    background: Executor  # runs a recall's keyword stage while its query is embedded
    admin_url: str | None = None
    tuning: RecallTuning = field(default_factory=RecallTuning)
    observer: Observer = field(default_factory=NullObserver)
    vacuum: Vacuum | None = None  # reclaims removed rows soon after an erasure (owner URL)
    replicas: ReplicaSet | None = None  # KONSTRUCT_MEMORY_REPLICA_URL
    supervisor: EmbeddedSupervisor | None = None  # restarts a dead embedded server (serving)
    ledger: LedgerFile | None = None  # KONSTRUCT_MEMORY_LEDGER_EXPORT
    # What ``open`` started, to be closed in the reverse order; empty in a copy.
    _owned: ExitStack = field(default_factory=ExitStack, init=False, repr=False, compare=False)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        auto_migrate: bool = True,
        tuning: RecallTuning | None = None,
        observer: Observer | None = None,
        serving: bool = False,
    ) -> Resources:
        """Connect, migrate (``auto_migrate``), verify the runtime role cannot bypass
        row-level security, load the embedder (``embedder``: this one instead) and start the
        workers; ``serving`` adds the embedded server's supervisor and the retention schedule
        (every KONSTRUCT_MEMORY_RETENTION_INTERVAL_S seconds, if not 0)."""
        use_tenant_switch(settings.tenant_switch)
        database = urls.resolve(settings)
        with ExitStack() as opening:  # closes what is open so far if a later step fails
            pool = runtime.open_pool(settings, auto_migrate=auto_migrate, urls=database)
            opening.callback(pool.close)
            # The tokenizer counts context tokens whatever embeds: the local model is needed.
            tokens = TokenCounter(model_dir(settings))
            embedder = embedder or embed.from_settings(settings)
            opening.callback(_close_embedder, embedder)
            replicas = None
            if settings.replica_url:
                replicas = ReplicaSet(pool, settings)
                opening.callback(replicas.close)
            background = ThreadPoolExecutor(
                max_workers=settings.pool_max_size, thread_name_prefix="konstruct-memory"
            )
            opening.callback(background.shutdown, wait=True)
            server = EmbeddedServer(settings.data_dir) if settings.uses_embedded_server else None
            vacuum = None
            if database.admin is not None:
                vacuum = Vacuum.from_settings(
                    database.admin,
                    settings,
                    maintenance.vacuum,
                    server.lower_backend_priority if server is not None else None,
                )
                opening.callback(vacuum.close, timeout=60)
            supervisor = None
            if serving and server is not None:
                supervisor = EmbeddedSupervisor(server)
                supervisor.start()
                opening.callback(supervisor.stop)
            resources = cls(
                pool=pool,
                embedder=embedder,
                settings=settings,
                tokens=tokens,
                background=background,
                admin_url=database.admin,
                tuning=tuning or RecallTuning(),
                observer=observer if observer is not None else NullObserver(),
                vacuum=vacuum,
                replicas=replicas,
                supervisor=supervisor,
                ledger=LedgerFile(settings.ledger_export) if settings.ledger_export else None,
            )
            if serving and settings.retention_interval_s > 0:
                schedule = retention.RetentionSchedule(
                    resources.apply_retention,
                    settings.retention_interval_s,
                    Leadership(database.runtime, RETENTION_SCHEDULE),
                )
                schedule.start()
                opening.callback(schedule.stop)
            resources._owned.enter_context(opening.pop_all())
        return resources

    @cached_property
    def embedders(self) -> Embedders:
        """The embedder of each model in use: the configured one, and those tenants switched
        to, loaded on first use."""
        return Embedders(self.embedder, self.settings)

    @cached_property
    def known_models(self) -> KnownModels:
        return KnownModels()

    @cached_property
    def erasure_key(self) -> bytes:
        """The deployment's erasure key, read (or generated once) on first use."""
        return keyfiles.erasure_key(self.settings)

    def after_removal(self) -> None:
        """Rows were removed: let VACUUM reclaim their dead tuples soon, if so configured."""
        if self.vacuum is not None and self.settings.vacuum_after_erasure:
            self.vacuum.request()

    def apply_retention(self, batch: int | None = None) -> retention.RetentionReport:
        """Apply every tenant's retention window now, ``batch`` turns per transaction
        (default KONSTRUCT_MEMORY_RETENTION_BATCH), then let VACUUM reclaim what went."""
        report = retention.apply_retention(
            self.pool, batch or self.settings.retention_batch, self._record
        )
        if report.turns_erased or report.audit_rows_erased:
            self.after_removal()
        return report

    def _record(self, tenant_id: UUID, row: ErasureRow) -> None:
        if self.ledger is not None:
            self.ledger.append([entry_of(tenant_id, erasure_of(row))])

    def close(self) -> None:
        """Stop the workers and close the connections, in the reverse order of their opening.
        A second call does nothing."""
        self._owned.close()


def _close_embedder(embedder: Embedder) -> None:
    close = getattr(embedder, "close", None)
    if callable(close):
        close()
