"""Retention windows, applied in bounded batches, now or on a schedule.

Each tenant with ``retention_days`` loses, batch by batch, the turns (and read-audit rows)
older than its window. Every batch is one short transaction through ``konstruct_expire``, which
computes the cutoff from the tenant's own policy and records the batch in the ledger, so a run
never holds locks for long, and a run cut short leaves only whole, recorded batches behind.
What a run removed is VACUUMed afterwards (``Resources.apply_retention``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from psycopg_pool import ConnectionPool

from konstruct_memory.db.leadership import Leadership
from konstruct_memory.db.tenant import Connection, tenant_transaction
from konstruct_memory.store import lifecycle as store
from konstruct_memory.store.rows import ErasureRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionReport:
    tenants: int  # tenants with a retention window
    batches: int  # ledger entries written (batches that removed something)
    turns_erased: int
    audit_rows_erased: int


def apply_retention(
    pool: ConnectionPool[Connection],
    batch: int,
    recorded: Callable[[UUID, ErasureRow], None] | None = None,
) -> RetentionReport:
    """Apply every tenant's retention window now, removing at most ``batch`` turns (and
    ``batch`` audit rows) per transaction; ``recorded`` is told of each batch's ledger entry
    once its transaction has committed."""
    with pool.connection() as conn:
        due = store.retention_tenants(conn)
    batches = turns = audit = 0
    for tenant_id, _days in due:
        while True:
            with tenant_transaction(pool, tenant_id) as tx:
                row = store.expire_batch(tx, batch)
            if row is None:
                break
            if recorded is not None:
                recorded(tenant_id, row)
            batches += 1
            turns += row.turns_erased
            audit += row.audit_rows_erased
            if row.turns_erased < batch and row.audit_rows_erased < batch:
                break
    if turns or audit:
        log.info("retention removed %d turns and %d audit rows", turns, audit)
    return RetentionReport(len(due), batches, turns, audit)


class RetentionSchedule:
    """``run`` (a retention run) every ``interval`` seconds on a daemon thread; a failed run
    is logged and the next one tries again. ``serve`` runs one (``Resources.open``). With
    ``leadership``, only the process leading it runs: N processes apply a window once per
    interval, and another takes over when the leader stops."""

    def __init__(
        self, run: Callable[[], object], interval: float, leadership: Leadership | None = None
    ) -> None:
        self._run = run
        self._interval = interval
        self._leadership = leadership
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="konstruct-memory-retention", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self._leadership is not None:
            self._leadership.release()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if self._leadership is None or self._leadership.leads():
                    self._run()
            except Exception:  # the next run tries again
                log.warning("retention run failed", exc_info=True)
