"""Serving the app with uvicorn, hardened against slow clients and for a clean stop.

* Each request must arrive whole (head and body) within ``request_timeout_s`` of the
  connection opening, or of the previous response on a kept-alive connection; a connection
  that dribbles bytes slower than that is closed. An idle kept-alive connection is kept as
  long, longer than clients keep theirs, so a client never reuses one the server is closing.
  uvicorn has keep-alive and concurrency limits but no such read deadline, so a subclass of
  its HTTP/1.1 protocol adds one; the rest of uvicorn (its parser, flow control, graceful
  shutdown) is unchanged.
* A response the client stops reading is dropped the same way: once writing has made no
  progress for ``request_timeout_s`` (the peer's buffers are full), the connection is aborted,
  so a reader that never reads cannot keep a request, and its in-flight slot, forever.
* Open connections are capped (``max_connections``): beyond it requests get 503 at once.
* ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from ``trusted_proxies``
  (none by default): the client address feeds the failed-authentication throttle, so a
  header any caller can send must not choose it.
* SIGTERM and SIGINT stop accepting, let in-flight requests finish (at most 30 s), close the
  pools and exit 0: a requested stop is not a failure. (uvicorn re-raises the signal after a
  graceful shutdown, which makes the process exit with -15.)
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
from collections.abc import Iterator
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from konstruct_memory.config import Settings

DRAIN_SECONDS = 30
# h11 states in which the peer has sent its whole request (or is gone).
_ARRIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request to arrive."""

    request_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._stalled: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state in _ARRIVED:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._unstall()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._unstall()
        self._stalled = self.loop.call_later(self.request_timeout, self._not_reading)

    def resume_writing(self) -> None:
        self._unstall()
        super().resume_writing()

    def _unstall(self) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _not_reading(self) -> None:
        # abort, not close: close would wait for the unread bytes to be sent first.
        self.transport.abort()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        if self.conn.their_state not in _ARRIVED and not self.transport.is_closing():
            self.transport.close()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            # Drained: the signal asked for this stop, so do not re-raise it.
            self._captured_signals.clear()


def build_server(app: Any, host: str, port: int, settings: Settings) -> uvicorn.Server:
    """The uvicorn server ``serve`` runs: deadlines, connection cap, trusted proxies."""
    protocol = type(
        "ConfiguredH11Protocol",
        (DeadlineH11Protocol,),
        {"request_timeout": settings.request_timeout_s},
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        # An idle kept-alive connection stays open as long as a request may take to arrive
        # (uvicorn's own default is 5 s). Clients drop their idle connections sooner (httpx
        # after 5 s, Node's fetch after 4): closing at the same moment as a client reuses one
        # answers that request with a reset.
        timeout_keep_alive=max(1, round(settings.request_timeout_s)),
        limit_concurrency=settings.max_connections,
        timeout_graceful_shutdown=DRAIN_SECONDS,
        # uvicorn's own default believes the headers from 127.0.0.1; ours believes no one
        # unless told, whatever FORWARDED_ALLOW_IPS says.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        log_level="warning",
        log_config=None,  # uvicorn's loggers go through the JSON handler too
    )
    return _Server(config)


def serve(
    app: Any, host: str, port: int, settings: Settings, sock: socket.socket | None = None
) -> None:
    """Run ``app`` until SIGTERM or SIGINT, then drain and return; on ``sock`` (bound by a
    parent process) if given."""
    _raise_open_files_limit(settings.max_connections)
    build_server(app, host, port, settings).run(sockets=None if sock is None else [sock])


def _raise_open_files_limit(connections: int) -> None:
    """Room for ``connections`` sockets plus the pool and files, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
