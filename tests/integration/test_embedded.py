"""The embedded server: init, stop, restart keeps data; processes share one server; the CLI."""

from __future__ import annotations

import json
import multiprocessing
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from konstruct_memory.db import migrate
from konstruct_memory.db.embedded import EmbeddedServer, binaries
from konstruct_memory.db.embedded.buffer_cache import buffer_cache_mb
from tests.conftest import make_data_dir

CLI = [sys.executable, "-m", "konstruct_memory"]


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    path = make_data_dir()
    try:
        yield path
    finally:
        EmbeddedServer(path).stop()
        shutil.rmtree(path, ignore_errors=True)


def _cli(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONSTRUCT_MEMORY_")}
    env["KONSTRUCT_MEMORY_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])


def test_cli_migrates_and_prints_urls_for_psql(data_dir: Path) -> None:
    assert "schema at revision" in _cli(data_dir, "migrate")
    runtime_url, admin_url = _cli(data_dir, "db-url"), _cli(data_dir, "db-url", "--admin")
    with psycopg.connect(runtime_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("konstruct_runtime",)
        assert conn.execute("SELECT count(*) FROM conversation_embeddings").fetchone() == (0,)
    with psycopg.connect(admin_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("konstruct_owner",)
    secrets_file = data_dir / "server.json"
    assert secrets_file.stat().st_mode & 0o077 == 0, "credentials must be owner-only"


def test_stop_and_restart_keep_data(data_dir: Path) -> None:
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    with psycopg.connect(server.admin_url(), autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (name) VALUES ('survives-restart')")
    server.stop()
    assert not server.is_running()
    assert "stopped" in _cli_status(data_dir)
    server.ensure_running()
    with psycopg.connect(server.admin_url()) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM tenants")]
    assert "survives-restart" in names


def _shared_buffers_mb(server: EmbeddedServer) -> int:
    with psycopg.connect(server.superuser_url()) as conn:
        row = conn.execute(
            "SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_buffer_cache_is_sized_for_the_graph_once_and_alter_system_wins(
    data_dir: Path,
) -> None:
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    assert _shared_buffers_mb(server) == buffer_cache_mb()
    with psycopg.connect(server.superuser_url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_buffers = '200MB'")
    try:
        server.stop()
        server.ensure_running()
        assert _shared_buffers_mb(server) == 200
    finally:
        with psycopg.connect(server.superuser_url(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET shared_buffers")
        server.stop()
        server.ensure_running()
    assert _shared_buffers_mb(server) == buffer_cache_mb()
    conf = (data_dir / "postgres" / "postgresql.conf").read_text()
    assert conf.count("konstruct-memory: buffer cache") == 1  # added once, not at each start


def _cli_status(data_dir: Path) -> str:
    env = {**os.environ, "KONSTRUCT_MEMORY_DATA_DIR": str(data_dir)}
    env.pop("KONSTRUCT_MEMORY_DATABASE_URL", None)
    result = subprocess.run(
        [*CLI, "server", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout


def test_server_standby_makes_a_streaming_replica_once_and_prints_its_url(
    data_dir: Path,
) -> None:
    _cli(data_dir, "migrate")
    standby = EmbeddedServer(data_dir / "standby")
    try:
        line = _cli(data_dir, "server", "standby")
        name, _, url = line.partition("=")
        assert name == "KONSTRUCT_MEMORY_REPLICA_URL" and url == standby.runtime_url()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            assert conn.execute("SELECT current_user").fetchone() == ("konstruct_runtime",)
        standby.stop()
        assert _cli(data_dir, "server", "standby") == line, "run again: the same standby"
        assert standby.is_running()
    finally:
        standby.stop()


def test_a_second_process_reuses_the_running_server(data_dir: Path) -> None:
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    pid = _postmaster_pid(data_dir)
    url = _cli(data_dir, "db-url")
    assert _postmaster_pid(data_dir) == pid
    assert url == server.runtime_url()


def test_processes_racing_on_a_new_data_dir_share_one_server() -> None:
    path = make_data_dir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONSTRUCT_MEMORY_")}
    env["KONSTRUCT_MEMORY_DATA_DIR"] = str(path)
    try:
        procs = [
            subprocess.Popen(
                [*CLI, "db-url"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=180) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
        assert len({out.strip() for out, _ in outputs}) == 1
        with psycopg.connect(outputs[0][0].strip()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        EmbeddedServer(path).stop()
        shutil.rmtree(path, ignore_errors=True)


def _start_as(uid: int, gid: int, path: Path) -> None:
    """Child of a fork: drop to an ordinary user, then initialise and start the server."""
    os.setgid(gid)
    os.setuid(uid)
    EmbeddedServer(path).ensure_running()


def _as_user(target: Any, user: pwd.struct_passwd, path: Path) -> int | None:
    child = multiprocessing.get_context("fork").Process(
        target=target, args=(user.pw_uid, user.pw_gid, path)
    )
    child.start()
    child.join(180)
    return child.exitcode


@pytest.mark.skipif(os.geteuid() != 0, reason="the suite already runs as an ordinary user")
def test_runs_as_an_ordinary_user() -> None:
    # A fork keeps the loaded interpreter: the ordinary user need not reach /root's Python.
    user = pwd.getpwnam("nobody")
    path = make_data_dir()
    os.chown(path, user.pw_uid, user.pw_gid)
    started = _as_user(_start_as, user, path)
    try:
        assert started == 0
        assert (path / "postgres").stat().st_uid == user.pw_uid
        assert (path / "server.json").stat().st_uid == user.pw_uid
        server_user = _process_owner(_postmaster_pid(path))
        assert server_user == "nobody", "no separate server user is needed when not root"
        migrate.upgrade(EmbeddedServer(path).admin_url())
        with psycopg.connect(EmbeddedServer(path).runtime_url()) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("konstruct_runtime",)
    finally:
        EmbeddedServer(path).stop()  # as root: acts as the cluster's owner
        assert not (path / "postgres" / "postmaster.pid").exists(), "stopped before removal"
        shutil.rmtree(path, ignore_errors=True)


def _process_owner(pid: int) -> str:
    uid = os.stat(f"/proc/{pid}").st_uid
    return pwd.getpwuid(uid).pw_name


def test_an_interrupted_first_start_resumes() -> None:
    path = make_data_dir()
    server = EmbeddedServer(path)
    try:
        server.ensure_running()
        server.stop()
        # As if killed mid-initdb: state recorded, cluster half made.
        state = json.loads((path / "server.json").read_text())
        state.update(initialised=False, provisioned=False)
        (path / "server.json").write_text(json.dumps(state))
        (path / "postgres" / "PG_VERSION").unlink()
        server.ensure_running()
        with psycopg.connect(server.runtime_url()) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("konstruct_runtime",)
    finally:
        server.stop()
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another user only under root")
def test_root_with_a_private_install_directory_still_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wheel inside a directory only root may enter (a clone under /root): the programs
    are copied where the server user can run them."""
    private = Path(tempfile.mkdtemp(prefix="km-private-"))
    try:
        private.chmod(0o700)
        site = private / "site-packages"
        shutil.copytree(binaries.package_dir(), site / binaries.PACKAGE, symlinks=True)
        libs = binaries.package_dir().parent / binaries.LIBS
        if libs.exists():
            shutil.copytree(libs, site / binaries.LIBS, symlinks=True)
        monkeypatch.setattr(binaries, "package_dir", lambda: site / binaries.PACKAGE)
        data_dir = make_data_dir()
        server = EmbeddedServer(data_dir)
        try:
            server.ensure_running()
            with psycopg.connect(server.runtime_url()) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            assert list(data_dir.glob("server-programs-*/.complete"))
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        shutil.rmtree(private, ignore_errors=True)
