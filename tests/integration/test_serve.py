"""Serving: a shutdown lets an in-flight write finish; the admin token file is private."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
import uvicorn

from konstruct_memory.config import Settings
from konstruct_memory.embed import Vectors
from konstruct_memory.keyfiles import admin_token
from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app
from tests.conftest import DatabaseUnderTest, process_env
from tests.fakes import BagOfWordsEmbedder


class SlowEmbedder(BagOfWordsEmbedder):
    def embed(self, texts: Sequence[str]) -> Vectors:
        time.sleep(1.5)
        return super().embed(texts)


def test_shutdown_finishes_in_flight_writes(database: DatabaseUnderTest) -> None:
    settings = Settings(database_url=database.runtime_url, admin_database_url=database.admin_url)
    with Memory.open(settings, embedder=SlowEmbedder()) as memory:
        tenant = memory.create_tenant("graceful")
        key = memory.create_api_key(tenant.id).api_key
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        app = create_app(settings, memory=memory, admin_token="t")
        server = uvicorn.Server(
            uvicorn.Config(app, port=port, log_level="error", timeout_graceful_shutdown=30)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        agent = str(uuid.uuid4())
        result: dict[str, httpx.Response] = {}

        def write() -> None:
            result["response"] = httpx.post(
                f"http://127.0.0.1:{port}/v1/turns",
                timeout=30,
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "turns": [
                        {
                            "agent_id": agent,
                            "user_id": "U1",
                            "role": "user",
                            "content": "written during shutdown",
                        }
                    ]
                },
            )

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)  # the request is now inside the (slow) embedder
        server.should_exit = True
        writer.join(30)
        thread.join(30)
        assert result["response"].status_code == 201
        stored = memory.tenant(tenant.id).history(agent, "U1")
        assert [t.content for t in stored] == ["written during shutdown"]


def test_generated_admin_token_is_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=None)
    token, where = admin_token(settings)
    assert where == tmp_path / "admin-token" and token.startswith("kma_")
    assert where.stat().st_mode & 0o077 == 0
    assert admin_token(settings) == (token, where), "generated once, then reused"
    assert admin_token(Settings(data_dir=tmp_path, admin_token="mine")) == ("mine", None)


def test_an_exhausted_pool_answers_503_quickly(database: DatabaseUnderTest) -> None:
    from fastapi.testclient import TestClient

    settings = Settings(
        database_url=database.runtime_url,
        admin_database_url=database.admin_url,
        pool_min_size=1,
        pool_max_size=1,
        pool_timeout=0.5,
    )
    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
        key = memory.create_api_key(memory.create_tenant("busy").id).api_key
        client = TestClient(create_app(settings, memory=memory, admin_token="t"))
        with memory.resources.pool.connection():  # every connection is taken
            started = time.monotonic()
            response = client.get(
                "/v1/history",
                params={"agent_id": str(uuid.uuid4()), "user_id": "U1"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert time.monotonic() - started < 5
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert client.get("/healthz").status_code == 200


def test_serve_refuses_a_schema_behind_the_code_without_migrating(
    new_database: Callable[[], DatabaseUnderTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from konstruct_memory.cli import app
    from konstruct_memory.db import migrate

    db = new_database()
    migrate.upgrade(db.admin_url, "003")
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", db.runtime_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", db.admin_url)
    result = CliRunner().invoke(app, ["serve", "--no-migrate"])
    assert result.exit_code == 1
    assert "konstruct-memory migrate" in result.output
    assert migrate.current_revision(db.admin_url) == "003"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(base: str, seconds: float) -> None:
    """Until ``serve`` at ``base`` answers /healthz with 200 (it starts in a few seconds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"serve at {base} was not healthy within {seconds} s")


def start_serve(
    port: int, env: dict[str, str], *options: str, quiet: bool = False
) -> subprocess.Popen[str]:
    """``konstruct-memory serve`` on ``port`` as a process of its own, its output piped (or
    dropped, ``quiet``: a process nobody reads must not block on a full pipe)."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "konstruct_memory", "serve", "--port", str(port), *options],
        env=env,
        stdout=output,
        stderr=output,
        text=True,
    )


def serve_env(database: DatabaseUnderTest, **extra: str) -> dict[str, str]:
    env = process_env(
        KONSTRUCT_MEMORY_DATABASE_URL=database.runtime_url,
        KONSTRUCT_MEMORY_ADMIN_DATABASE_URL=database.admin_url,
        KONSTRUCT_MEMORY_ADMIN_TOKEN="a" * 40,
    )
    return env | extra


def test_serve_refuses_a_short_admin_token(database: DatabaseUnderTest) -> None:
    env = serve_env(database, KONSTRUCT_MEMORY_ADMIN_TOKEN="short-token")
    done = subprocess.run(
        [sys.executable, "-m", "konstruct_memory", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "at least 32" in done.stderr and "11 characters" in done.stderr


def test_serve_drops_stalled_requests_and_exits_0_on_sigterm(database: DatabaseUnderTest) -> None:
    port = free_port()
    process = start_serve(port, serve_env(database, KONSTRUCT_MEMORY_REQUEST_TIMEOUT_S="1"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, 60)
        stalled = []
        for _ in range(300):  # half a request each, never finished
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"POST /v1/recall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
            stalled.append(sock)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200, "others still served"
        started = time.monotonic()
        stalled[0].settimeout(10)
        assert stalled[0].recv(1) == b"", "a request that does not arrive is dropped"
        assert time.monotonic() - started < 5
        for sock in stalled:
            sock.close()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    for line in stderr.splitlines():
        json.loads(line)  # every log line is JSON
