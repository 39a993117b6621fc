"""Fixtures: a real PostgreSQL (the embedded server, or KONSTRUCT_MEMORY_TEST_DATABASE_URL).

``KONSTRUCT_MEMORY_TEST_DATABASE_URL`` names a superuser connection to a server with pgvector;
the suite creates its own databases and roles there (random names) and leaves the rest alone.

The run is hermetic: it neither reads nor writes the user's installation. For the whole run
the data directory, ``HOME`` and the XDG directories are temporary ones, no other
``KONSTRUCT_MEMORY_`` setting of the user's environment is seen, and the guard of
``tests/hermetic`` (in this process and, through ``PYTHONPATH``, in every Python process a test
starts) makes reaching the default data directory or port 8080 fail, saying so.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import hypothesis.configuration
import psycopg
import pytest
import uvicorn
from psycopg_pool import ConnectionPool

from konstruct_memory.config import Settings, default_data_dir
from konstruct_memory.db import migrate
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.embedded.provision import Credentials, provision, url_for
from konstruct_memory.db.tenant import Connection, create_pool
from konstruct_memory.library import Memory, TenantMemory
from konstruct_memory.serving import create_app
from tests.fakes import BagOfWordsEmbedder
from tests.hermetic import sitecustomize as hermetic

ADMIN_TOKEN = "test-admin-token"
ERASURE_KEY = "test-erasure-key-of-the-suite-0123456789"
UNIT = Path(__file__).resolve().parent / "unit"
GUARD = Path(hermetic.__file__).resolve().parent
# Settings of the test run itself, kept from the user's environment; every other
# KONSTRUCT_MEMORY_ variable is removed for the run.
TEST_SETTINGS = {
    "KONSTRUCT_MEMORY_TEST_DATABASE_URL",
    "KONSTRUCT_MEMORY_CHROMIUM",
    "KONSTRUCT_MEMORY_CHROMEDRIVER",
    "KONSTRUCT_MEMORY_SCREENSHOTS",
}
_session = pytest.MonkeyPatch()
_session_dirs: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    """Point the run at temporary directories and install the guard (see the module text)."""
    data_dir, home = make_data_dir(), Path(tempfile.mkdtemp(prefix="km-test-home-"))
    _session_dirs.extend([data_dir, home])
    for name in [n for n in os.environ if n.startswith("KONSTRUCT_MEMORY_")]:
        if name not in TEST_SETTINGS:
            _session.delenv(name)
    _session.setenv("KONSTRUCT_MEMORY_DATA_DIR", str(data_dir))
    _session.setenv("HOME", str(home))
    for xdg in ("DATA", "CONFIG", "CACHE", "STATE"):
        _session.setenv(f"XDG_{xdg}_HOME", str(home / xdg.lower()))
    hypothesis.configuration.set_hypothesis_home_dir(home / "hypothesis")  # not ./.hypothesis
    _session.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(GUARD), os.environ.get("PYTHONPATH")]))
    )
    # Settings' default factory is this function object itself: its code is what can change.
    _session.setattr(default_data_dir, "__code__", hermetic.refuse_default_data_dir.__code__)
    hermetic.guard_sockets(_session.setattr)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # pytest-socket (installed with langchain-tests) puts back, after every test, the
    # socket.socket.connect it saw when it was imported: guard it again.
    hermetic.guard_sockets(_session.setattr)


def pytest_unconfigure(config: pytest.Config) -> None:
    _session.undo()
    hypothesis.configuration.set_hypothesis_home_dir(None)
    for directory in _session_dirs:
        if (directory / "postgres").exists():
            EmbeddedServer(directory).stop()
        shutil.rmtree(directory, ignore_errors=True)
    _session_dirs.clear()


def process_env(**settings: str) -> dict[str, str]:
    """The environment of a process a test starts: the run's own (its temporary data
    directory, home and guard) without any other KONSTRUCT_MEMORY_ setting, plus ``settings``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("KONSTRUCT_MEMORY_") or name == "KONSTRUCT_MEMORY_DATA_DIR"
    }
    return env | settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/unit is the fast tier: ``pytest -m unit`` (no PostgreSQL)."""
    for item in items:
        if UNIT in item.path.parents:
            item.add_marker(pytest.mark.unit)


@dataclass(frozen=True)
class DatabaseUnderTest:
    admin_url: str
    runtime_url: str
    superuser_url: str
    runtime_role: str


def make_data_dir() -> Path:
    # Not pytest's tmp_path: under root it lives in a 0700 directory the server user
    # could not enter.
    return Path(tempfile.mkdtemp(prefix="km-test-"))


@pytest.fixture(scope="session")
def superuser_url() -> Iterator[str]:
    external = os.environ.get("KONSTRUCT_MEMORY_TEST_DATABASE_URL")
    if external:
        yield external
        return
    data_dir = make_data_dir()
    server = EmbeddedServer(data_dir)
    server.ensure_running()
    try:
        yield server.superuser_url()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def new_database(superuser_url: str) -> Callable[[], DatabaseUnderTest]:
    """Factory of fresh, provisioned, unmigrated databases with their own login roles."""

    def make() -> DatabaseUnderTest:
        suffix = secrets.token_hex(4)
        creds = Credentials(
            database=f"km_test_{suffix}",
            owner_role=f"km_owner_{suffix}",
            owner_password=secrets.token_urlsafe(16),
            runtime_role=f"km_runtime_{suffix}",
            runtime_password=secrets.token_urlsafe(16),
        )
        provision(superuser_url, creds)
        return DatabaseUnderTest(
            admin_url=url_for(
                superuser_url,
                user=creds.owner_role,
                password=creds.owner_password,
                database=creds.database,
            ),
            runtime_url=url_for(
                superuser_url,
                user=creds.runtime_role,
                password=creds.runtime_password,
                database=creds.database,
            ),
            superuser_url=url_for(
                superuser_url,
                user=_user(superuser_url),
                password=_password(superuser_url),
                database=creds.database,
            ),
            runtime_role=creds.runtime_role,
        )

    return make


@pytest.fixture(scope="session")
def database(new_database: Callable[[], DatabaseUnderTest]) -> DatabaseUnderTest:
    """One database migrated to head, shared by the tests that only read the schema or
    work inside tenants they create themselves."""
    db = new_database()
    migrate.upgrade(db.admin_url)
    return db


@pytest.fixture
def pool(database: DatabaseUnderTest) -> Iterator[ConnectionPool[Connection]]:
    pool = create_pool(database.runtime_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def new_tenant(database: DatabaseUnderTest) -> Callable[[], UUID]:
    """Create a tenant as the owner (tenant administration is the owner's job)."""

    def make() -> UUID:
        with psycopg.connect(database.admin_url, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO tenants (name) VALUES (%s) RETURNING id", ["t-" + secrets.token_hex(3)]
            ).fetchone()
        assert row is not None
        tenant_id: UUID = row[0]
        return tenant_id

    return make


def settings_over(database: DatabaseUnderTest, **more: Any) -> Settings:
    """The library's settings over a test database: its runtime and owner URLs and the
    suite's erasure key, with ``more`` on top."""
    return Settings(
        database_url=database.runtime_url,
        admin_database_url=database.admin_url,
        erasure_key=ERASURE_KEY,
        **more,
    )


@pytest.fixture(scope="session")
def memory(database: DatabaseUnderTest) -> Iterator[Memory]:
    """The library over the shared test database, with the bag-of-words embedder."""
    # Tests refuse many credentials on purpose, all from one address; the throttle has tests
    # of its own (tests/integration/test_backpressure.py).
    settings = settings_over(database, failed_auth_burst=1_000_000)
    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
        yield memory


@pytest.fixture
def tenant(memory: Memory) -> TenantMemory:
    """A fresh tenant of its own for each test."""
    return memory.tenant(memory.create_tenant("t-" + secrets.token_hex(3)).id)


@pytest.fixture(scope="session")
def base_url(memory: Memory) -> Iterator[str]:
    """The API served by uvicorn on a free loopback port, over the shared memory."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(memory.settings, memory=memory, admin_token=ADMIN_TOKEN)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _user(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url).get("user") or "postgres")


def _password(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url).get("password") or "")
