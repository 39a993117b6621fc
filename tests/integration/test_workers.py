"""``serve --workers N``: N processes answer on one port; one that dies is started again; a
SIGTERM drains them all and the parent exits 0."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.conftest import DatabaseUnderTest
from tests.integration.test_serve import free_port, serve_env, start_serve


def children(parent: int) -> set[int]:
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:  # the process ended while being read
            continue
        if fields.get("PPid", "").strip() == str(parent):
            found.add(int(status.parent.name))
    return found


def wait_until(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_workers_share_the_port_are_restarted_and_stop_together(
    database: DatabaseUnderTest,
) -> None:
    port = free_port()
    process = start_serve(port, serve_env(database), "--workers", "2")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: len(children(process.pid)) == 2 and healthy(base))
        first = children(process.pid)
        assert all(healthy(base) for _ in range(20))
        os.kill(min(first), signal.SIGKILL)  # a worker dies
        wait_until(lambda: len(children(process.pid) - first) == 1 and healthy(base))
        survivors = children(process.pid)
        assert len(survivors) == 2 and max(first) in survivors
        assert all(healthy(base) for _ in range(20))
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "with 2 worker processes" in stdout
    assert not any(Path(f"/proc/{pid}").exists() for pid in survivors)
