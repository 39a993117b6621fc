"""Erasure, retention and the read audit trail: calls of migration 007's functions (the only
way the runtime role can remove or audit anything) and reads of the ledger and the trail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import class_row

from konstruct_memory.db.tenant import Connection, TenantConnection
from konstruct_memory.errors import KonstructMemoryError
from konstruct_memory.store.rows import AuditRow, ErasureRow, columns
from konstruct_memory.store.scope import equal_to

_LEDGER_COLUMNS = columns(ErasureRow)
_ERASE = sql.SQL(
    """
    SELECT {columns}
    FROM konstruct_erase(%(agent_id)s, %(user_id)s, %(subject)s, %(subject_version)s,
                         %(key_id)s, %(requested_at)s, %(stored_before)s, %(replay_of)s)
    """
).format(columns=_LEDGER_COLUMNS)
_ERASE_TURNS = sql.SQL(
    """
    SELECT {columns}
    FROM konstruct_erase_turns(%(turn_ids)s, %(agent_id)s, %(user_id)s, %(subject)s,
                               %(subject_version)s, %(key_id)s, %(requested_at)s,
                               %(stored_before)s, %(replay_of)s)
    """
).format(columns=_LEDGER_COLUMNS)
_ERASE_MODEL = sql.SQL(
    """
    SELECT {columns}
    FROM konstruct_erase_model(%(model)s, %(subject)s, %(key_id)s, %(requested_at)s,
                               %(replay_of)s)
    """
).format(columns=_LEDGER_COLUMNS)
_EXPIRE = sql.SQL("SELECT {columns} FROM konstruct_expire(%(batch)s)").format(
    columns=_LEDGER_COLUMNS
)
_RECORD_READ = """
SELECT konstruct_audit_read(%(operation)s, %(key_id)s, %(agent_id)s, %(user_id)s,
                            %(turn_ids)s, %(query)s, %(as_of)s)
"""
# A tombstone names the (agent, user) of its turn; one written before migration 012 names
# none and stands for its id in every scope.
_ERASED = """
SELECT turn_id, agent_id, user_id FROM erased_turns
WHERE tenant_id = %(tenant_id)s AND turn_id = ANY(%(ids)s)
"""
_RETENTION_TENANTS = "SELECT tenant_id, retention_days FROM konstruct_retention_tenants()"
_SUBJECTS = """
SELECT DISTINCT agent_id, user_id FROM conversation_embeddings WHERE tenant_id = %(tenant_id)s
"""
_ALL_LEDGER = sql.SQL("SELECT tenant_id, {columns} FROM erasures ORDER BY completed_at, id").format(
    columns=_LEDGER_COLUMNS
)
_LEDGER_IDS = "SELECT id, replay_of FROM erasures"
_READS_AUDITED = "SELECT konstruct_reads_audited() AS audited"


def erase(
    tx: TenantConnection,
    *,
    agent_id: UUID | None,
    user_id: str | None,
    subject: bytes,
    subject_version: int,
    key_id: UUID | None,
    requested_at: datetime,
    stored_before: datetime | None = None,
    replay_of: UUID | None = None,
    turn_ids: Sequence[UUID] | None = None,
) -> ErasureRow:
    """Remove the subject's turns (only ``turn_ids`` if given) and, for a whole subject, its
    audit rows; append the ledger entry. All in ``tx``."""
    params = tx.params(
        agent_id=agent_id,
        user_id=user_id,
        subject=subject,
        subject_version=subject_version,
        key_id=key_id,
        requested_at=requested_at,
        stored_before=stored_before,
        replay_of=replay_of,
        turn_ids=list(turn_ids) if turn_ids is not None else None,
    )
    return _ledger_entry(tx, _ERASE if turn_ids is None else _ERASE_TURNS, params)


def erase_model(
    tx: TenantConnection,
    *,
    model: str,
    subject: bytes,
    key_id: UUID | None,
    requested_at: datetime,
    replay_of: UUID | None = None,
) -> ErasureRow:
    """Remove every vector of ``model`` the tenant holds (never the model its reads or its
    switch use: the function refuses) and append the ledger entry, in ``tx``."""
    params = tx.params(
        model=model, subject=subject, key_id=key_id, requested_at=requested_at, replay_of=replay_of
    )
    return _ledger_entry(tx, _ERASE_MODEL, params)


def _ledger_entry(
    tx: TenantConnection, erasure: sql.Composed, params: dict[str, Any]
) -> ErasureRow:
    """Run an erasure function, which always answers with the ledger entry it appended."""
    with tx.conn.cursor(row_factory=class_row(ErasureRow)) as cur:
        row = cur.execute(erasure, params).fetchone()
    if row is None:
        raise KonstructMemoryError("the erasure function returned no ledger entry")
    return row


def expire_batch(tx: TenantConnection, batch: int) -> ErasureRow | None:
    """Remove up to ``batch`` turns (and audit rows) past the tenant's retention window; the
    ledger entry of the batch, or None if nothing was due."""
    with tx.conn.cursor(row_factory=class_row(ErasureRow)) as cur:
        return cur.execute(_EXPIRE, tx.params(batch=batch)).fetchone()


def record_read(
    tx: TenantConnection,
    *,
    operation: str,
    key_id: UUID | None,
    agent_id: UUID,
    user_id: str | None,
    turn_ids: Sequence[UUID],
    query: str | None,
    as_of: datetime | None = None,
) -> None:
    """Append the read to the audit trail if the tenant audits reads (the function decides)."""
    tx.conn.execute(
        _RECORD_READ,
        {
            "operation": operation,
            "key_id": key_id,
            "agent_id": agent_id,
            "user_id": user_id,
            "turn_ids": list(turn_ids),
            "query": query,
            "as_of": as_of,
        },
    )


def reads_audited(tx: TenantConnection) -> bool:
    """Whether the transaction's tenant audits reads, by its policy."""
    row = tx.conn.execute(_READS_AUDITED).fetchone()
    return bool(row and row["audited"])


def erased(tx: TenantConnection, ids: Sequence[UUID]) -> set[tuple[UUID, UUID | None, str | None]]:
    """The tombstones of ``ids``, as (id, agent, user): the ids erased on request in that
    scope (agent and user None: in every scope), which are never stored there again."""
    rows = tx.conn.execute(_ERASED, tx.params(ids=list(ids))).fetchall()
    return {(row["turn_id"], row["agent_id"], row["user_id"]) for row in rows}


def _window(
    since: datetime | None, until: datetime | None, column: str
) -> tuple[list[sql.Composable], dict[str, Any]]:
    parts: list[sql.Composable] = []
    params: dict[str, Any] = {}
    if since is not None:
        parts.append(sql.SQL("{} >= %(since)s").format(sql.Identifier(column)))
        params["since"] = since
    if until is not None:
        parts.append(sql.SQL("{} < %(until)s").format(sql.Identifier(column)))
        params["until"] = until
    return parts, params


def list_erasures(
    tx: TenantConnection,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    *,
    newest_first: bool = False,
    before: UUID | None = None,
) -> list[ErasureRow]:
    """A page of the tenant's ledger, in time order (or newest first), older than the entry
    ``before`` if given (``UnknownCursor`` if the ledger has no such entry)."""
    parts, params = _window(since, until, "completed_at")
    if before is not None:
        parts.append(_older_than("erasures", "completed_at"))
        params["before"] = before
        _require_entry(tx, "erasures", before)
    statement = "SELECT {columns} FROM erasures WHERE {where} ORDER BY {order} LIMIT %(limit)s"
    query = sql.SQL(statement).format(
        columns=_LEDGER_COLUMNS,
        where=sql.SQL(" AND ").join([sql.SQL("tenant_id = %(tenant_id)s"), *parts]),
        order=_order("completed_at", newest_first),
    )
    with tx.conn.cursor(row_factory=class_row(ErasureRow)) as cur:
        return cur.execute(query, tx.params(limit=limit, **params)).fetchall()


class UnknownCursor(LookupError):
    """A ``before`` cursor that names no entry of the tenant's ledger or audit trail."""


def _older_than(table: str, at: str) -> sql.Composable:
    # Time and id together: entries of one instant are ordered by id, so no page skips one.
    return sql.SQL(
        "({at}, id) < (SELECT {at}, id FROM {table} "
        "WHERE tenant_id = %(tenant_id)s AND id = %(before)s)"
    ).format(at=sql.Identifier(at), table=sql.Identifier(table))


def _require_entry(tx: TenantConnection, table: str, entry_id: object) -> None:
    query = sql.SQL("SELECT 1 FROM {} WHERE tenant_id = %(tenant_id)s AND id = %(before)s")
    found = tx.conn.execute(query.format(sql.Identifier(table)), tx.params(before=entry_id))
    if found.fetchone() is None:
        raise UnknownCursor(entry_id)


def _order(at: str, newest_first: bool) -> sql.Composable:
    direction = sql.SQL("DESC" if newest_first else "ASC")
    return sql.SQL("{at} {d}, id {d}").format(at=sql.Identifier(at), d=direction)


def list_audit(
    tx: TenantConnection,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    agent_id: UUID | None,
    user_id: str | None,
    newest_first: bool = False,
    before: int | None = None,
) -> list[AuditRow]:
    parts, params = _window(since, until, "at")
    by_subject, subject = equal_to(agent_id=agent_id, user_id=user_id)
    parts += by_subject
    params |= subject
    if before is not None:
        parts.append(_older_than("read_audit", "at"))
        params["before"] = before
        _require_entry(tx, "read_audit", before)
    query = sql.SQL(
        "SELECT id, at, key_id, operation, agent_id, user_id, turn_ids, query, as_of "
        "FROM read_audit "
        "WHERE {where} ORDER BY {order} LIMIT %(limit)s"
    ).format(
        where=sql.SQL(" AND ").join([sql.SQL("tenant_id = %(tenant_id)s"), *parts]),
        order=_order("at", newest_first),
    )
    with tx.conn.cursor(row_factory=class_row(AuditRow)) as cur:
        return cur.execute(query, tx.params(limit=limit, **params)).fetchall()


def retention_tenants(conn: Connection) -> list[tuple[UUID, int]]:
    """Every tenant with a retention window, and its length in days (runtime role)."""
    rows = conn.execute(_RETENTION_TENANTS).fetchall()
    return [(row["tenant_id"], row["retention_days"]) for row in rows]


def subjects(tx: TenantConnection) -> list[tuple[UUID, str]]:
    """Every (agent, user) with stored turns: what a replayed erasure's hash is matched to."""
    rows = tx.conn.execute(_SUBJECTS, tx.params()).fetchall()
    return [(row["agent_id"], row["user_id"]) for row in rows]


def whole_ledger(conn: Connection) -> list[dict[str, Any]]:
    """Every tenant's ledger entries, oldest first (owner connection: for export)."""
    return conn.execute(_ALL_LEDGER).fetchall()


def ledger_ids(conn: Connection) -> set[UUID]:
    """Ids of the entries in the ledger, and of the entries replayed into it (owner)."""
    found: set[UUID] = set()
    for row in conn.execute(_LEDGER_IDS).fetchall():
        found.add(row["id"])
        if row["replay_of"] is not None:
            found.add(row["replay_of"])
    return found
