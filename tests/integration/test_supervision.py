"""The database from the outside: the embedded server killed with -9 under ``serve`` (requests
fail fast with 503 meanwhile, /healthz says why, the supervisor restarts it, no acknowledged
turn is lost), a runtime role that changed its own password, a refused runtime login."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.embedded.provision import conninfo_to_url
from konstruct_memory.errors import ConfigurationError
from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app
from tests.api import bearer
from tests.conftest import ERASURE_KEY, DatabaseUnderTest, make_data_dir
from tests.fakes import BagOfWordsEmbedder


def test_a_killed_embedded_server_is_restarted_and_requests_fail_fast_meanwhile() -> None:
    data_dir = make_data_dir()
    server = EmbeddedServer(data_dir)
    settings = Settings(data_dir=data_dir, erasure_key=ERASURE_KEY, retention_interval_s=0)
    agent = str(uuid.uuid4())
    try:
        # As `serve` opens it: the memory runs the supervisor until it closes.
        with Memory.open(settings, embedder=BagOfWordsEmbedder(), serving=True) as memory:
            supervisor = memory.resources.supervisor
            assert supervisor is not None
            tenant = memory.create_tenant("supervised")
            key = bearer(tenant.api_key)
            turns = [
                {"agent_id": agent, "user_id": "U1", "role": "user", "content": f"turn {i}"}
                for i in range(20)
            ]
            app = create_app(settings, memory=memory, admin_token="s" * 40)
            where = {"agent_id": agent, "user_id": "U1"}
            with TestClient(app, raise_server_exceptions=False) as client:
                stored = client.post("/v1/turns", json={"turns": turns}, headers=key)
                assert stored.status_code == 201
                pid = server.postmaster_pid()
                assert pid is not None
                # The whole server, its backends too: a backend outlives its postmaster for a
                # moment and could still answer on a pooled connection.
                for process in (pid, *_children(pid)):
                    with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                        os.kill(process, signal.SIGKILL)
                started = time.monotonic()
                failed = client.get("/v1/history", params=where, headers=key)
                assert failed.status_code == 503 and time.monotonic() - started < 1.0
                health = client.get("/healthz")
                if health.status_code == 503:  # unless the restart already won the race
                    assert "database unavailable" in health.json()["error"]["message"]
                deadline = time.monotonic() + 30
                while client.get("/healthz").status_code != 200:
                    assert time.monotonic() < deadline, supervisor.status
                    time.sleep(0.2)
                assert supervisor.restarts == 1
                history = None
                while time.monotonic() < deadline:  # stale pooled connections are replaced
                    history = client.get("/v1/history", params=where, headers=key)
                    if history.status_code == 200:
                        break
                assert history is not None and len(history.json()["turns"]) == 20
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux: /proc/<pid>/stat's fourth field)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The name (second field) is in parentheses and may hold spaces.
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            found.append(int(entry))
    return found


def test_the_embedded_default_repairs_a_runtime_password_changed_from_inside() -> None:
    """PostgreSQL lets every role change its own password: a runtime role that locked itself
    out is given its recorded password again at the next start."""
    data_dir = make_data_dir()
    settings = Settings(data_dir=data_dir, erasure_key=ERASURE_KEY)
    try:
        with (
            Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory,
            memory.resources.pool.connection() as conn,
        ):
            conn.execute("ALTER ROLE CURRENT_USER PASSWORD NULL")
        with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
            memory.check_health()
    finally:
        EmbeddedServer(data_dir).stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_a_refused_runtime_login_says_which_role_where_and_what_to_check(
    database: DatabaseUnderTest,
) -> None:
    params = conninfo_to_dict(database.runtime_url)
    wrong = conninfo_to_url(make_conninfo(database.runtime_url, password="not-the-password"))
    settings = Settings(database_url=wrong, admin_database_url=database.admin_url)
    with pytest.raises(ConfigurationError) as refused:
        Memory.open(settings, embedder=BagOfWordsEmbedder())
    message = str(refused.value)
    assert f"the runtime role {params['user']!r} could not log in to postgresql://" in message
    assert "password authentication failed" in message and "pg_hba.conf" in message
    assert "not-the-password" not in message and str(params["password"]) not in message
