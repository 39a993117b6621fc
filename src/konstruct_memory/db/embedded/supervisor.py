"""Keeping the embedded server up while ``serve`` runs: if it dies (killed, out of memory), it
is started again, with bounded retries and backoff, and every step is logged.

Nothing acknowledged is lost when the server dies: a turn is acknowledged after its commit,
and PostgreSQL recovers committed transactions from its WAL on the next start.
"""

from __future__ import annotations

import logging
import threading
import time

from konstruct_memory.db.embedded.server import EmbeddedServer
from konstruct_memory.errors import EmbeddedServerError

log = logging.getLogger(__name__)


class EmbeddedSupervisor:
    """Checks every ``interval`` seconds that the server's postmaster lives; restarts it if not.
    ``status`` says, in a few words, how the server is (``/healthz`` shows it)."""

    def __init__(self, server: EmbeddedServer, interval: float = 1.0, attempts: int = 10) -> None:
        self.server = server
        self.interval = interval
        self.attempts = attempts
        self.status = "running"
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="konstruct-memory-supervisor", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.server.alive() and not self._restart():
                return  # gave up: /healthz keeps saying so until an operator steps in

    def _restart(self) -> bool:
        """True once the server runs again, False after the last attempt failed."""
        log.warning("embedded PostgreSQL is not running; restarting it")
        for attempt in range(1, self.attempts + 1):
            self.status = f"down; restarting (attempt {attempt} of {self.attempts})"
            started = time.monotonic()
            try:
                self.server.recover()
            except EmbeddedServerError as exc:
                reason = str(exc).splitlines()[0]
                log.warning(
                    "restarting embedded PostgreSQL failed (attempt %d of %d): %s",
                    attempt,
                    self.attempts,
                    reason,
                )
                # 0.5, 1, 2, 4 … s, at most 10: the old server's processes may still be exiting.
                if self._stop.wait(min(10.0, 0.5 * 2 ** (attempt - 1))):
                    return True  # stopping: nothing to report
                continue
            self.restarts += 1
            self.status = "running"
            log.warning(
                "embedded PostgreSQL restarted in %.1f s (restart %d since start)",
                time.monotonic() - started,
                self.restarts,
            )
            return True
        self.status = f"down; gave up after {self.attempts} restarts (see the server's log)"
        log.error("embedded PostgreSQL could not be restarted; %s", self.status)
        return False
