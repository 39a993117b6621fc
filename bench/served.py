"""``konstruct-memory serve`` as a separate process on a throwaway embedded database, so a
load generator does not share the server's interpreter."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SERVE = [sys.executable, "-m", "konstruct_memory", "serve"]
ADMIN_TOKEN = "bench-admin-token-of-a-throwaway-server"  # noqa: S105 - its 32+ characters


@contextmanager
def served(workers: int = 1) -> Iterator[tuple[str, int]]:
    """(base URL, server pid) of a fresh service (``serve --workers``); stopped and deleted
    afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="km-bench-"))
    env = os.environ | {
        "KONSTRUCT_MEMORY_DATA_DIR": str(data_dir),
        "KONSTRUCT_MEMORY_ADMIN_TOKEN": ADMIN_TOKEN,
        # These benchmarks time requests at a fixed concurrency (up to 8): no refusals. The
        # admission bound itself is measured by bench/reliability.py.
        "KONSTRUCT_MEMORY_MAX_IN_FLIGHT": "64",
    }
    env.pop("KONSTRUCT_MEMORY_DATABASE_URL", None)
    try:
        with running(env, workers) as answer:
            yield answer
    finally:
        subprocess.run(
            [sys.executable, "-m", "konstruct_memory", "server", "stop"],
            env=env,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def running(env: dict[str, str], workers: int = 1) -> Iterator[tuple[str, int]]:
    """(base URL, server pid) of ``serve`` with ``env`` on a free port, once healthy; stopped
    at the end of the block (its data directory and embedded server are the caller's)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603
        [*SERVE, "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(60)
