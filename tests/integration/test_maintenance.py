"""The VACUUM after removals on a real PostgreSQL: the throttle its session carries (and its
backend's CPU niceness on the embedded server), the window it waits for, and `maintenance
status` before and after it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from konstruct_memory.cli import app
from konstruct_memory.config import VacuumWindow
from konstruct_memory.db import migrate
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.vacuum import Vacuum, VacuumThrottle
from konstruct_memory.library import Memory
from konstruct_memory.store import maintenance
from tests.conftest import DatabaseUnderTest, settings_over
from tests.fakes import BagOfWordsEmbedder

AGENT = str(uuid.uuid4())


@pytest.fixture
def fresh(new_database: Callable[[], DatabaseUnderTest]) -> DatabaseUnderTest:
    """A database of this test alone: no other test's erasure or VACUUM moves its counts."""
    database = new_database()
    migrate.upgrade(database.admin_url)
    return database


class SessionSettings:
    """Runs the store's VACUUM, then reads the throttle its session carried."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, conn: psycopg.Connection[Any], throttle: VacuumThrottle) -> None:
        maintenance.vacuum(conn, throttle)
        delay = conn.execute("SHOW vacuum_cost_delay").fetchone()
        limit = conn.execute("SHOW vacuum_cost_limit").fetchone()
        assert delay is not None and limit is not None
        self.seen.append((delay[0], limit[0]))


def test_the_vacuum_session_carries_the_configured_throttle(database: DatabaseUnderTest) -> None:
    settings = settings_over(database, vacuum_cost_delay_ms=7, vacuum_cost_limit=300)
    observed = SessionSettings()
    vacuum = Vacuum.from_settings(database.admin_url, settings, observed)
    vacuum.request()  # the background VACUUM after a removal
    vacuum.wait()
    vacuum.run_now()  # memory.vacuum(): the same settings
    vacuum.run_now(cost_delay_ms=0)  # unless told otherwise
    assert observed.seen == [("7ms", "300"), ("7ms", "300"), ("0", "300")]


@pytest.fixture
def embedded_server(superuser_url: str) -> EmbeddedServer:
    """The suite's own server, found from its data directory."""
    if os.environ.get("KONSTRUCT_MEMORY_TEST_DATABASE_URL"):
        pytest.skip("the suite runs on a server it did not start")
    with psycopg.connect(superuser_url) as conn:
        pgdata = conn.execute("SHOW data_directory").fetchone()
    assert pgdata is not None
    return EmbeddedServer(Path(pgdata[0]).parent)


class BackendNiceness:
    """Records the CPU niceness of the VACUUM's backend as it runs."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, conn: psycopg.Connection[Any], throttle: VacuumThrottle) -> None:
        self.seen.append(os.getpriority(os.PRIO_PROCESS, conn.info.backend_pid))


def test_the_vacuum_backend_runs_at_the_configured_niceness_on_the_embedded_server(
    database: DatabaseUnderTest, embedded_server: EmbeddedServer
) -> None:
    # The suite reaches its server by URL (so the settings' niceness would not apply): the
    # throttle is given, with the way to reach the server's processes.
    throttle = VacuumThrottle(20, 200, niceness=15)
    observed = BackendNiceness()
    vacuum = Vacuum(
        database.admin_url,
        observed,
        throttle,
        backend_priority=embedded_server.lower_backend_priority,
    )
    vacuum.run_now()
    vacuum.run_now(niceness=0)  # as readers: the backend is left as it starts
    assert observed.seen == [15, 0]

    elsewhere = Vacuum(database.admin_url, observed, throttle)  # no way to reach its processes
    elsewhere.run_now()
    assert observed.seen[-1] == 0
    over_urls = settings_over(database, vacuum_niceness=15)
    assert VacuumThrottle.of(over_urls).niceness == 0, "a server it did not start is not reniced"


def test_only_the_servers_own_backends_are_reniced(embedded_server: EmbeddedServer) -> None:
    stranger = subprocess.Popen(["sleep", "30"])  # a process that is not a backend
    try:
        assert not embedded_server.lower_backend_priority(stranger.pid, 10)
        assert os.getpriority(os.PRIO_PROCESS, stranger.pid) == 0
    finally:
        stranger.kill()
        stranger.wait()


def test_a_request_outside_the_window_waits_for_it(database: DatabaseUnderTest) -> None:
    now = datetime.now(UTC)
    later = VacuumWindow.parse(f"{now + timedelta(hours=2):%H:%M}-{now + timedelta(hours=3):%H:%M}")
    observed = SessionSettings()
    waiting = Vacuum(database.admin_url, observed, VacuumThrottle(2, 200), later)
    waiting.request()
    assert waiting.pending
    waiting.close(timeout=10)  # drops the request still waiting
    assert observed.seen == []

    within = VacuumWindow.parse(
        f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    )
    runs = Vacuum(database.admin_url, observed, VacuumThrottle(2, 200), within)
    runs.request()
    runs.wait()
    assert observed.seen == [("2ms", "200")] and not runs.pending


def status(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, ["maintenance", "status", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def turns_table(output: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith("conversation_embeddings"))
    return line.split()


@pytest.fixture
def cli(fresh: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", fresh.runtime_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", fresh.admin_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_VACUUM_WINDOW", "02:00-05:00")
    yield CliRunner()


def test_maintenance_status_shows_the_dead_tuples_until_the_vacuum(
    fresh: DatabaseUnderTest, cli: CliRunner
) -> None:
    settings = settings_over(fresh, vacuum_after_erasure=False)
    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
        tenant = memory.tenant(memory.create_tenant("t-" + secrets.token_hex(3)).id)
        tenant.remember(
            [
                {"agent_id": AGENT, "user_id": "U1", "role": "user", "content": f"gone {i}"}
                for i in range(40)
            ]
        )
        assert tenant.erase(user_id="U1").turns_erased == 40
    # Closing the memory closed its sessions, which report their deletions as they end.

    before = json.loads(status(cli, "--json"))
    turns = before["tables"][0]
    assert [table["table_name"] for table in before["tables"]] == list(maintenance.VACUUMED_TABLES)
    assert turns["dead_tuples"] >= 40 and turns["live_tuples"] == 0
    assert turns["last_vacuum"] is None and before["in_progress"] == []
    assert before["vacuum_window"] == "02:00-05:00 UTC" and before["vacuum_cost_delay_ms"] == 20
    assert before["vacuum_niceness"] == 0, "a server the service did not start is not reniced"
    human = status(cli)
    assert "VACUUM after removals: within 02:00-05:00 UTC, 20 ms every 200 cost units" in human
    _, live, dead, last_vacuum, *_ = turns_table(human)
    assert (live, int(dead) >= 40, last_vacuum) == ("0", True, "never")
    assert "no VACUUM of these tables in progress" in human

    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
        memory.vacuum()  # now, whatever the window; throttled by the default

    after = json.loads(status(cli, "--json"))
    assert after["tables"][0]["dead_tuples"] == 0
    assert after["tables"][0]["last_vacuum"] is not None
    _, live, dead, last_vacuum, *_ = turns_table(status(cli))
    assert (dead, last_vacuum != "never") == ("0", True)


def test_a_wrong_setting_ends_a_command_with_its_variable(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSTRUCT_MEMORY_VACUUM_COST_DELAY_MS", "500")
    result = cli.invoke(app, ["maintenance", "status"])
    assert result.exit_code == 1
    assert "error: KONSTRUCT_MEMORY_VACUUM_COST_DELAY_MS must be from 0 to 100" in result.output
