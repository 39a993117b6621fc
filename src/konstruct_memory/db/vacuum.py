"""VACUUM on the owner connection, in the background, soon after erasure or retention removed
rows, so their dead tuples (and index entries) are reclaimed before autovacuum would get to
them. What to vacuum is the store's to say (``store.lifecycle.vacuum``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

log = logging.getLogger(__name__)


class Vacuum:
    """Runs ``vacuum`` on a new owner connection in autocommit, in the background, when
    requested. Requests made while one runs fold into a single next run."""

    def __init__(self, admin_url: str, vacuum: Callable[[psycopg.Connection[Any]], None]) -> None:
        self._admin_url = admin_url
        self._vacuum = vacuum
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
            self._vacuum(conn)

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
