"""Batches written through COPY, the fastest way into PostgreSQL.

COPY cannot write to a table under row-level security, so a batch is copied into a
session-private staging table and inserted from there by one statement, which the tenant
policy checks. ON COMMIT DELETE ROWS empties the staging table at the end of each
transaction, so a pooled connection carries nothing from one tenant's batch into the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from konstruct_memory.db.tenant import TenantConnection


@dataclass(frozen=True)
class Staging:
    """A staging table: its name and its columns as (name, PostgreSQL type), in COPY order."""

    table: str
    columns: tuple[tuple[str, str], ...]

    @property
    def create(self) -> str:
        """The statement that makes the table, once per session."""
        declared = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        return (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.table} ({declared}) ON COMMIT DELETE ROWS"
        )

    def copy(self, tx: TenantConnection, rows: Iterable[Sequence[object]]) -> None:
        """Empty until this transaction's ``rows`` are copied in (binary COPY)."""
        conn = tx.conn
        conn.execute(self.create)
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {self.table} FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([kind for _, kind in self.columns])
            for row in rows:
                copy.write_row(row)
