"""The app served the way ``serve`` serves it (``serving.server.build_server``: request and write
deadlines, trusted proxies), on a free loopback port in a thread, and raw sockets to it."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from konstruct_memory.config import Settings
from konstruct_memory.serving.server import build_server


@contextmanager
def serving(app: Any, settings: Settings) -> Iterator[int]:
    """The port ``app`` is served on, until the block ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    server = build_server(app, "127.0.0.1", port, settings)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(40)


def head(method: str, path: str, key: str | None, length: int | None = None, **more: str) -> bytes:
    """A request head (a body of ``length`` bytes announced, none sent)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += ["Accept: application/json, text/event-stream"]
    lines += [f"Authorization: Bearer {key}"] if key else []
    lines += [f"Content-Length: {length}"] if length is not None else []
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in more.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def opened(port: int, request: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(request)
    return sock


def outcomes(sockets: list[socket.socket], wait: float) -> list[int | None]:
    """Each socket's answer status, in order, or None for those still unanswered after
    ``wait`` seconds (a request being held)."""
    found: dict[socket.socket, int | None] = {}
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + wait
        while len(found) < len(sockets) and (left := deadline - time.monotonic()) > 0:
            for ready, _ in selector.select(left):
                sock = ready.fileobj
                assert isinstance(sock, socket.socket)
                found[sock] = status_of(sock.recv(65536))
                selector.unregister(sock)
    return [found.get(sock) for sock in sockets]


def status_of(data: bytes) -> int | None:
    """The status of an answer's first bytes; None for a closed connection (no answer)."""
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
