"""The ledger leaves the database as it is written (KONSTRUCT_MEMORY_LEDGER_EXPORT): a backup
taken before three erasures, restored, is put right by `erase replay` from the file alone; an
entry whose append was lost (a crash after the commit) is appended when the memory next opens."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from konstruct_memory.cli import app
from konstruct_memory.config import Settings
from konstruct_memory.db import migrate
from konstruct_memory.engine.ledger_file import read_entries
from konstruct_memory.errors import ConfigurationError
from konstruct_memory.library import Memory
from tests.conftest import ERASURE_KEY, DatabaseUnderTest
from tests.fakes import BagOfWordsEmbedder
from tests.integration.test_replay import (
    AGENT,
    elsewhere,
    program,
    restore,
    said,
    settings_for,
)


def test_a_restored_backup_is_put_right_from_the_ledger_file_alone(
    new_database: Callable[[], DatabaseUnderTest],
    superuser_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = new_database()
    migrate.upgrade(db.admin_url)
    ledger = tmp_path / "ledger" / "erasures.jsonl"
    settings = settings_for(db).model_copy(update={"ledger_export": ledger})
    dump = tmp_path / "before.dump"
    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
        tenant = memory.create_tenant("from-file")
        turns = memory.tenant(tenant.id)
        turns.remember(
            [said(user, f"{user} detail {i}") for user in ("U1", "U2") for i in range(2)]
        )
        *_, secret = turns.remember(
            [said("U3", "kept"), said("U3", "kept too"), said("U3", "a secret")]
        )
        subprocess.run(
            [program("pg_dump"), "--format=custom", f"--file={dump}", db.superuser_url], check=True
        )
        erasures = [
            turns.erase(user_id="U1"),
            turns.erase(agent_id=AGENT, user_id="U2"),
            turns.erase(turn_ids=[secret.id]),
        ]
    # Written as they committed: no export was run.
    assert [entry.id for entry in read_entries(ledger)] == [e.id for e in erasures]
    assert "U1" not in ledger.read_text(), "the file names subjects by their hash only"

    restored = restore(db, superuser_url, dump, "from_file")
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATABASE_URL", elsewhere(db.runtime_url, restored))
    monkeypatch.setenv("KONSTRUCT_MEMORY_ADMIN_DATABASE_URL", elsewhere(db.admin_url, restored))
    monkeypatch.setenv("KONSTRUCT_MEMORY_ERASURE_KEY", ERASURE_KEY)
    monkeypatch.setenv("KONSTRUCT_MEMORY_LEDGER_EXPORT", str(ledger))
    replayed = CliRunner().invoke(app, ["erase", "replay"], catch_exceptions=False)
    assert replayed.exit_code == 0, replayed.output
    assert "replayed 3 erasures (5 turns)" in replayed.output
    with Memory.open(settings_for(db, restored), embedder=BagOfWordsEmbedder()) as memory:
        turns = memory.tenant(tenant.id)
        assert turns.history(AGENT, "U1") == [] and turns.history(AGENT, "U2") == []
        assert [t.content for t in turns.history(AGENT, "U3")] == ["kept", "kept too"]
    # The replays went to the file too: a second replay finds everything applied.
    assert len(read_entries(ledger)) == 6
    again = CliRunner().invoke(app, ["erase", "replay"], catch_exceptions=False)
    assert "replayed 0 erasures (0 turns); 6 already applied" in again.output, again.output


def test_an_entry_whose_append_was_lost_is_appended_at_the_next_start(
    database: DatabaseUnderTest, tmp_path: Path
) -> None:
    ledger = tmp_path / "erasures.jsonl"
    settings = settings_for(database)
    with Memory.open(settings, embedder=BagOfWordsEmbedder()) as memory:
        turns = memory.tenant(memory.create_tenant("lost-append").id)
        turns.remember([said("U1", "one"), said("U2", "two")])
        # As if the process died between the commit and the append: no file configured yet.
        lost = turns.erase(user_id="U1")
    with_file = settings.model_copy(update={"ledger_export": ledger})
    with Memory.open(with_file, embedder=BagOfWordsEmbedder()) as memory:
        ids = [entry.id for entry in read_entries(ledger)]
        assert lost.id in ids
        appended = memory.tenant(turns.tenant_id or "").erase(user_id="U2")
    with Memory.open(with_file, embedder=BagOfWordsEmbedder()):
        pass  # opening again appends nothing twice
    lines = ledger.read_text().splitlines()
    assert len(lines) == len(set(lines)) and len(read_entries(ledger)) == len(ids) + 1
    assert read_entries(ledger)[-1].id == appended.id


def test_a_ledger_file_needs_the_owner_connection(
    database: DatabaseUnderTest, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=database.runtime_url, erasure_key=ERASURE_KEY, ledger_export=tmp_path / "l"
    )
    with pytest.raises(ConfigurationError, match="KONSTRUCT_MEMORY_ADMIN_DATABASE_URL"):
        Memory.open(settings, embedder=BagOfWordsEmbedder(), auto_migrate=False)
