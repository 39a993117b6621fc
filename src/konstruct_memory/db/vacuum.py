"""VACUUM on the owner connection, in the background, soon after erasure or retention removed
rows, so their dead tuples (and index entries) are reclaimed before autovacuum would get to
them: throttled by PostgreSQL's cost-based delay so that recall keeps its share of the
machine meanwhile (and, on the embedded server, at a low CPU priority), and, if a window is
configured, started only within it. What to vacuum is the store's to say
(``store.maintenance.vacuum``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from konstruct_memory.config import Settings, VacuumWindow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VacuumThrottle:
    """How one VACUUM yields to readers. PostgreSQL's cost-based delay on its session: each
    time its page work reaches ``cost_limit`` units it sleeps ``cost_delay_ms`` (a plain
    manual VACUUM runs with a delay of 0, unthrottled, which is what readers pay for). And,
    where the server process can be reached (the embedded server), its CPU ``niceness``: the
    scheduler gives it only the time readers leave."""

    cost_delay_ms: float
    cost_limit: int
    niceness: int = 0

    @classmethod
    def of(cls, settings: Settings) -> VacuumThrottle:
        """The configured throttle as it applies: the niceness only where the service
        started the server (a server elsewhere is not its to renice)."""
        niceness = settings.vacuum_niceness if settings.uses_embedded_server else 0
        return cls(settings.vacuum_cost_delay_ms, settings.vacuum_cost_limit, niceness)

    def __str__(self) -> str:
        delay = (
            "unthrottled"
            if self.cost_delay_ms == 0
            else f"{self.cost_delay_ms:g} ms every {self.cost_limit} cost units"
        )
        return delay if self.niceness == 0 else f"{delay}, niceness {self.niceness}"


VacuumRun = Callable[[psycopg.Connection[Any], VacuumThrottle], None]
# Gives a backend of the server (by process id) a CPU niceness; whether it could.
BackendPriority = Callable[[int, int], bool]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Vacuum:
    """Runs ``vacuum`` on a new owner connection in autocommit, with the configured throttle.
    ``request()`` runs it in the background (within the window, if one is set); requests made
    while one runs or waits fold into a single next run. ``run_now()`` runs it at once."""

    def __init__(
        self,
        admin_url: str,
        vacuum: VacuumRun,
        throttle: VacuumThrottle,
        window: VacuumWindow | None = None,
        clock: Callable[[], datetime] = utc_now,
        backend_priority: BackendPriority | None = None,
    ) -> None:
        self._admin_url = admin_url
        self._vacuum = vacuum
        self.throttle = throttle
        self._backend_priority = backend_priority
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()
        self._closed = threading.Event()
        self._wanted = False
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        admin_url: str,
        settings: Settings,
        vacuum: VacuumRun,
        backend_priority: BackendPriority | None = None,
    ) -> Vacuum:
        """``backend_priority``: how to reach the server's processes (the embedded server's);
        without it the niceness is not applied."""
        return cls(
            admin_url,
            vacuum,
            VacuumThrottle.of(settings),
            settings.vacuum_window_utc,
            backend_priority=backend_priority,
        )

    def request(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._wanted = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="konstruct-memory-vacuum", daemon=True
                )
                self._thread.start()

    @property
    def pending(self) -> bool:
        """A requested VACUUM has not started yet (e.g. it waits for the window)."""
        with self._lock:
            return self._wanted

    def run_now(
        self,
        cost_delay_ms: float | None = None,
        cost_limit: int | None = None,
        niceness: int | None = None,
    ) -> None:
        """VACUUM now, whatever the window, with the configured throttle or the values given;
        after the background one if it is running. It serves a request still waiting."""
        throttle = self.throttle
        if cost_delay_ms is not None:
            throttle = replace(throttle, cost_delay_ms=cost_delay_ms)
        if cost_limit is not None:
            throttle = replace(throttle, cost_limit=cost_limit)
        if niceness is not None:
            throttle = replace(throttle, niceness=niceness)
        with self._lock:
            self._wanted = False
        self._run(throttle)

    def wait(self, timeout: float | None = None) -> None:
        """Until the pending runs are done (tests). With a window, that may be hours."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Drop a request still waiting for the window; wait up to ``timeout`` for a running
        VACUUM (autovacuum catches up on whatever is left undone)."""
        self._closed.set()
        self.wait(timeout)

    def _run(self, throttle: VacuumThrottle) -> None:
        # Two VACUUMs of the same tables would only queue on each other's locks.
        with self._one_at_a_time, psycopg.connect(self._admin_url, autocommit=True) as conn:
            if throttle.niceness and self._backend_priority is not None:
                # The connection is the VACUUM's own: its backend ends with it.
                self._backend_priority(conn.info.backend_pid, throttle.niceness)
            self._vacuum(conn, throttle)

    def _loop(self) -> None:
        while True:
            if self.window is not None:
                until_open = self.window.seconds_until_open(self._clock())
                if until_open > 0 and self._closed.wait(until_open):
                    return
            with self._lock:
                if not self._wanted or self._closed.is_set():
                    # Under the lock: a request from now on starts a thread of its own.
                    self._thread = None
                    return
                self._wanted = False
            try:
                self._run(self.throttle)
            except Exception:  # a failed VACUUM is autovacuum's to catch up on
                log.warning("VACUUM after removal failed", exc_info=True)
