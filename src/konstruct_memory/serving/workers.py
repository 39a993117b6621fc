"""``serve --workers N``: N processes answering on one port, kept running by their parent.

The embedding model is CPU-bound and holds Python's GIL for part of each call, so one process
uses about one core; N processes use N. The parent binds the port once and forks the workers,
which inherit the listening socket (the kernel hands each connection to one of them). Each
worker opens its own memory: its pool, its embedder, its in-flight bound and rate limits (see
docs/operations.md, "Many processes, many hosts"). The parent opens nothing after the fork: it
only forwards SIGTERM and SIGINT to the workers, starts again a worker that dies, and returns
once every worker has drained after a requested stop.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger(__name__)

# A worker that dies is started again after this long: a worker that cannot start (a port or
# database gone) does not spin the host.
RESTART_DELAY_S = 1.0


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker serves, bound by the parent before the fork."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class Workers:
    """``count`` processes, each running ``work(sock)`` until it returns."""

    def __init__(self, count: int, sock: socket.socket, work: Callable[[socket.socket], None]):
        if count < 1:
            raise ValueError("workers must be at least 1")
        # fork: the workers inherit the bound socket; the parent has no threads running by now.
        self._context = multiprocessing.get_context("fork")
        self._count = count
        self._sock = sock
        self._work = work
        self._stopping = False
        self._processes: list[BaseProcess] = []

    def run(self) -> None:
        """Start the workers and keep them running until SIGTERM or SIGINT, then wait for each
        to drain (the worker's own server finishes its in-flight requests)."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._processes = [self._start() for _ in range(self._count)]
            while self._processes:
                for n, process in enumerate(self._processes):
                    process.join(timeout=0.2)
                    if process.is_alive():
                        continue
                    if self._stopping:
                        self._processes.remove(process)
                        break
                    log.warning(
                        "worker %s exited with %s; starting another", process.pid, process.exitcode
                    )
                    time.sleep(RESTART_DELAY_S)
                    self._processes[n] = self._start()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def _start(self) -> BaseProcess:
        process = self._context.Process(target=self._serve, name="konstruct-memory-worker")
        process.start()
        return process

    def _serve(self) -> None:
        # The worker's own server installs its handlers; until then the defaults apply.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        self._work(self._sock)

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                    os.kill(process.pid, signal.SIGTERM)
