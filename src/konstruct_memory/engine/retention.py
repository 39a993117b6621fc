"""Retention windows, and the VACUUM that reclaims what erasure and retention remove.

Each tenant with ``retention_days`` loses, batch by batch, the turns (and read-audit rows)
older than its window. Every batch is one short transaction through ``konstruct_expire``, which
computes the cutoff from the tenant's own policy and records the batch in the ledger, so a run
never holds locks for long, and a run cut short leaves only whole, recorded batches behind.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import psycopg

from konstruct_memory.db.tenant import tenant_transaction
from konstruct_memory.engine.session import Resources
from konstruct_memory.store import lifecycle as store

log = logging.getLogger(__name__)

# Tables whose removed rows VACUUM should reclaim (the HNSW and GIN indexes included).
_VACUUM = "VACUUM conversation_embeddings, read_audit, erased_turns"


@dataclass(frozen=True)
class RetentionReport:
    tenants: int  # tenants with a retention window
    batches: int  # ledger entries written (batches that removed something)
    turns_erased: int
    audit_rows_erased: int


def apply_retention(resources: Resources, batch: int | None = None) -> RetentionReport:
    """Apply every tenant's retention window now."""
    size = batch or resources.settings.retention_batch
    with resources.pool.connection() as conn:
        due = store.retention_tenants(conn)
    batches = turns = audit = 0
    for tenant_id, _days in due:
        while True:
            with tenant_transaction(resources.pool, tenant_id) as tx:
                row = store.expire_batch(tx, size)
            if row is None:
                break
            batches += 1
            turns += row.turns_erased
            audit += row.audit_rows_erased
            if row.turns_erased < size and row.audit_rows_erased < size:
                break
    if turns or audit:
        log.info("retention removed %d turns and %d audit rows", turns, audit)
        after_removal(resources)
    return RetentionReport(len(due), batches, turns, audit)


def after_removal(resources: Resources) -> None:
    """Rows were removed: let VACUUM reclaim their dead tuples soon, if so configured."""
    if resources.vacuum is not None and resources.settings.vacuum_after_erasure:
        resources.vacuum.request()


class Vacuum:
    """VACUUM on the owner connection, in the background, after removals. Requests made while
    one runs fold into a single next run."""

    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        with self._lock:
            self._wanted = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="konstruct-memory-vacuum", daemon=True
                )
                self._thread.start()

    def run_now(self) -> None:
        with psycopg.connect(self._admin_url, autocommit=True) as conn:
            conn.execute(_VACUUM)

    def wait(self, timeout: float | None = None) -> None:
        """Until the pending runs are done (tests, and closing the memory)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    return
                self._wanted = False
            try:
                self.run_now()
            except Exception:  # a failed VACUUM is autovacuum's to catch up on
                log.warning("VACUUM after removal failed", exc_info=True)


class RetentionSchedule:
    """``apply_retention`` every ``interval`` seconds on a daemon thread (``serve`` runs one)."""

    def __init__(self, resources: Resources, interval: float) -> None:
        self._resources = resources
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="konstruct-memory-retention", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                apply_retention(self._resources)
            except Exception:  # the next run tries again
                log.warning("retention run failed", exc_info=True)
