"""The erasure ledger, leaving the database as it is written (``KONSTRUCT_MEMORY_LEDGER_EXPORT``).

A backup restored from before an erasure brings the erased turns back; ``erase replay`` removes
them again from the ledger kept outside the database. Exported by hand, that ledger misses the
erasures made since the last export. With a file configured, each entry is appended to it (JSON
Lines, the format of ``erase export``) once its transaction has committed, and the file is
fsync'd before the call returns. A crash between the commit and the append leaves an entry out:
every process appends the entries the file lacks when it opens (``catch_up``), so the file is
complete again from the next start on.

Several processes append to one file: each append and each catch-up holds an exclusive
``flock`` on it, so lines never interleave. An entry may still be written twice (a process
catching up while another appends its own); ``erase replay`` reads each id once.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from uuid import UUID

from konstruct_memory.operations import Erasure
from konstruct_memory.operations.lifecycle import LedgerEntry
from konstruct_memory.store.rows import ErasureRow


def erasure_of(row: ErasureRow) -> Erasure:
    """A ledger row as the API shows it (the subject hash in hex)."""
    return Erasure(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]  # the table's CHECK constraint lists the kinds
        turns_erased=row.turns_erased,
        audit_rows_erased=row.audit_rows_erased,
        requested_at=row.requested_at,
        completed_at=row.completed_at,
        subject_hash=row.subject_hash.hex() if row.subject_hash is not None else None,
        subject_hash_version=row.subject_hash_version,
        cutoff=row.cutoff,
        key_id=row.key_id,
        replay_of=row.replay_of,
        turn_ids=row.turn_ids,
        embedding_model=row.embedding_model,
    )


def entry_of(tenant_id: UUID, erasure: Erasure) -> LedgerEntry:
    """A tenant's ledger entry as the exported ledger holds it."""
    return LedgerEntry(tenant_id=tenant_id, **erasure.model_dump())


def read_entries(path: Path) -> list[LedgerEntry]:
    """The entries of an exported ledger, each id once (the first line of it), in file order."""
    entries: dict[UUID, LedgerEntry] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            entry = LedgerEntry.model_validate_json(line)
            entries.setdefault(entry.id, entry)
    return list(entries.values())


class LedgerFile:
    """The JSON Lines file every committed ledger entry is appended to."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()

    def append(self, entries: Sequence[LedgerEntry]) -> None:
        """Append ``entries`` and fsync the file: on return they survive a crash."""
        if entries:
            with self._locked() as file:
                _write(file, entries)

    def catch_up(self, ledger: Iterable[LedgerEntry]) -> int:
        """Append the entries of ``ledger`` (the database's, oldest first) that the file lacks;
        how many that was."""
        with self._locked() as file:
            file.seek(0)
            present = {json.loads(line)["id"] for line in file if line.strip()}
            missing = [entry for entry in ledger if str(entry.id) not in present]
            _write(file, missing)
        return len(missing)

    @contextmanager
    def _locked(self) -> Iterator[IO[str]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a+: created if missing, every write at the end whatever the position read from.
        with self.path.open("a+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            try:
                yield file
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)


def _write(file: IO[str], entries: Sequence[LedgerEntry]) -> None:
    if not entries:
        return
    file.write("".join(entry.model_dump_json() + "\n" for entry in entries))
    file.flush()
    os.fsync(file.fileno())
