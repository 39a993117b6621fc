"""Leadership of once-per-cluster work: one process of many holds it, the others stand by.

Several ``serve`` processes, on one host or many, share one primary. Periodic work that must
happen once per interval for the whole deployment (the retention schedule) runs only in the
process that holds a session-level advisory lock on the primary. The lock lives as long as the
holder's connection: a holder that stops or dies releases it with its session, and the next
process to ask takes over, so no lease times out and no row records a leader.

A connection pooler in transaction mode (PgBouncer's default) cannot carry a session lock:
point ``KONSTRUCT_MEMORY_DATABASE_URL`` at PostgreSQL itself or at a session-mode pool.
"""

from __future__ import annotations

import logging
import threading

import psycopg

log = logging.getLogger(__name__)

# Advisory lock keys of this service's once-per-cluster jobs (one bigint space per database:
# the values are arbitrary, chosen not to look like small counters another tool might use).
RETENTION_SCHEDULE = 0x4B4D_0001_5245_5400


class Leadership:
    """Whether this process leads the job named by ``key``. ``leads()`` asks the primary only
    while it does not lead: once taken, the lock stays until ``release()`` or the connection's
    end."""

    def __init__(self, url: str, key: int) -> None:
        self._url = url
        self._key = key
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._lock = threading.Lock()

    def leads(self) -> bool:
        with self._lock:
            if self._conn is not None and not self._alive(self._conn):
                self._drop()
            if self._conn is not None:
                return True
            try:
                conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
            except psycopg.Error:
                log.warning("could not reach the primary to lead %#x", self._key, exc_info=True)
                return False
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
            if row is not None and row[0]:
                self._conn = conn
                return True
            conn.close()
            return False

    def release(self) -> None:
        with self._lock:
            self._drop()

    def _alive(self, conn: psycopg.Connection[tuple[object, ...]]) -> bool:
        # A session that ended (a restart of the server, a network cut) took its lock with it.
        try:
            conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
