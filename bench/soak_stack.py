"""What ``soak.py`` runs against and how it looks at it: a throwaway embedded PostgreSQL with a
streaming standby of its own, ``serve --workers N`` reading from that standby, and the
figures read from outside the service (RSS and CPU from /proc, connections from
pg_stat_activity)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from served import ADMIN_TOKEN, running

from konstruct_memory.db.embedded.server import EmbeddedServer

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class Stack:
    base: str  # the service's URL
    serve_pid: int  # the parent; its children are the workers
    primary_admin_url: str  # the owner role: it may count every backend of pg_stat_activity
    standby_admin_url: str


@contextmanager
def soak_stack(workers: int) -> Iterator[Stack]:
    """A fresh primary and standby in a temporary data directory, and ``serve`` over them;
    all stopped and deleted afterwards. The user's default data directory is never used."""
    data_dir = Path(tempfile.mkdtemp(prefix="km-soak-"))
    env = os.environ | {
        "KONSTRUCT_MEMORY_DATA_DIR": str(data_dir),
        "KONSTRUCT_MEMORY_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    for inherited in ("KONSTRUCT_MEMORY_DATABASE_URL", "KONSTRUCT_MEMORY_REPLICA_URL"):
        env.pop(inherited, None)
    primary = EmbeddedServer(data_dir)
    standby = EmbeddedServer(data_dir / "standby")
    try:
        # The documented command: starts the primary, makes the standby, prints its URL.
        made = subprocess.run(
            [sys.executable, "-m", "konstruct_memory", "server", "standby"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        setting = next(line for line in made.stdout.splitlines() if "REPLICA_URL=" in line)
        env["KONSTRUCT_MEMORY_REPLICA_URL"] = setting.partition("=")[2]
        with running(env, workers) as (base, pid):
            yield Stack(base, pid, primary.admin_url(), standby.admin_url())
    finally:
        for server in (standby, primary):
            try:
                server.stop()
            except Exception as exc:  # cleanup goes on; say what was left behind
                print(f"could not stop {server.data_dir}: {exc}", file=sys.stderr)
        shutil.rmtree(data_dir, ignore_errors=True)


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (for ``serve --workers``: its workers)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return children


def rss_mib(pid: int) -> float | None:
    """Resident memory of ``pid`` (None: no such process any more)."""
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return resident_pages * PAGE_MIB


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def client_connections(admin_url: str) -> int | None:
    """Sessions of roles in the service's database at ``admin_url``, this query's own
    excluded (None: the server did not answer)."""
    try:
        with psycopg.connect(admin_url, connect_timeout=5) as conn:
            # Without pg_read_all_stats the owner sees other roles' sessions with most columns
            # null (backend_type too), but their database and role are shown; background
            # processes have neither.
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND usename IS NOT NULL AND pid <> pg_backend_pid()"
            ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None
