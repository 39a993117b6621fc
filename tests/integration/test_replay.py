"""Backups: a restored dump taken before an erasure brings the erased turns back, and
``erase replay`` with the exported ledger removes them again (and nothing stored since)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from konstruct_memory.cli import app
from konstruct_memory.config import Settings
from konstruct_memory.db import migrate
from konstruct_memory.db.embedded.binaries import server_binary
from konstruct_memory.db.embedded.provision import conninfo_to_url
from konstruct_memory.engine.erasure import ReplayReport
from konstruct_memory.library import Memory
from konstruct_memory.operations.lifecycle import LedgerEntry
from tests.conftest import ERASURE_KEY, DatabaseUnderTest
from tests.fakes import BagOfWordsEmbedder

AGENT = uuid.uuid4()


def program(name: str) -> str:
    found = server_binary(name)
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        pytest.skip(f"{name} is not available")
    return on_path


def said(user: str, content: str) -> dict[str, object]:
    return {"agent_id": AGENT, "user_id": user, "role": "user", "content": content}


def elsewhere(url: str, database: str) -> str:
    return conninfo_to_url(make_conninfo(url, dbname=database))


def restore(db: DatabaseUnderTest, superuser_url: str, dump: Path, suffix: str) -> str:
    """The dump restored into a new database of the same cluster, as an operator would; its
    name."""
    restored = f"{conninfo_to_dict(db.admin_url)['dbname']}_{suffix}"
    owner = str(conninfo_to_dict(db.admin_url)["user"])
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(restored), sql.Identifier(owner)
            )
        )
    target = elsewhere(db.superuser_url, restored)
    subprocess.run(
        [program("pg_restore"), "--exit-on-error", "--dbname", target, str(dump)], check=True
    )
    return restored


def settings_for(db: DatabaseUnderTest, database: str | None = None) -> Settings:
    runtime, admin = db.runtime_url, db.admin_url
    if database is not None:
        runtime, admin = elsewhere(runtime, database), elsewhere(admin, database)
    return Settings(database_url=runtime, admin_database_url=admin, erasure_key=ERASURE_KEY)


def test_replay_after_restoring_a_backup_taken_before_an_erasure(
    new_database: Callable[[], DatabaseUnderTest],
    superuser_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url)
    dump = tmp_path / "before-erasure.dump"
    with Memory.open(settings_for(db), embedder=BagOfWordsEmbedder()) as memory:
        tenant = memory.create_tenant("restored")
        turns = memory.tenant(tenant.id)
        turns.remember([said("U1", f"personal detail {i}") for i in range(3)])
        _, secret = turns.remember([said("U2", "someone else"), said("U2", "a secret")])
        subprocess.run(
            [program("pg_dump"), "--format=custom", f"--file={dump}", db.superuser_url],
            check=True,
        )
        erased = turns.erase(user_id="U1")
        assert erased.turns_erased == 3
        one_turn = turns.erase(turn_ids=[secret.id])
        assert one_turn.turn_ids == [secret.id]
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", db.runtime_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", db.admin_url)
    monkeypatch.setenv("KONSTRUCT_MEMORY_ERASURE_KEY", ERASURE_KEY)
    cli = CliRunner()
    exported = cli.invoke(app, ["erase", "export", "--out", str(ledger)], catch_exceptions=False)
    assert exported.exit_code == 0, exported.output
    assert str(erased.id) in ledger.read_text() and "U1" not in ledger.read_text()

    restored = restore(db, superuser_url, dump, "restored")
    with Memory.open(settings_for(db, restored), embedder=BagOfWordsEmbedder()) as memory:
        turns = memory.tenant(tenant.id)
        assert len(turns.history(AGENT, "U1")) == 3, "the backup brought the erased turns back"
        turns.remember([said("U1", "said after the restore")])
        entries = [
            LedgerEntry.model_validate_json(line) for line in ledger.read_text().splitlines()
        ]
        assert memory.replay_erasures(entries) == ReplayReport(2, 4, 0, 0)
        assert [t.content for t in turns.history(AGENT, "U1")] == ["said after the restore"]
        assert [t.content for t in turns.history(AGENT, "U2")] == ["someone else"]
        replays = {entry.replay_of for entry in turns.list_erasures()[-2:]}
        assert replays == {erased.id, one_turn.id}
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", elsewhere(db.runtime_url, restored))
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", elsewhere(db.admin_url, restored))
    again = cli.invoke(app, ["erase", "replay", str(ledger)], catch_exceptions=False)
    assert (
        again.exit_code == 0 and "replayed 0 erasures (0 turns); 2 already applied" in again.output
    )
