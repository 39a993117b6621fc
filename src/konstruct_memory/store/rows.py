"""Rows as they leave the store: typed and immutable.

Hot rows (turns, recall candidates, the principal of a key) are built positionally with
psycopg's ``args_row``, about three times cheaper than by name; their SELECT lists are
generated from the dataclass fields (``columns``), so the order cannot drift. Rare rows use
``class_row``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from konstruct_memory.operations.fields import Role


@dataclass(frozen=True, slots=True)
class TurnRow:
    id: UUID
    agent_id: UUID
    user_id: str
    role: Role
    content: str
    conversation_id: str | None
    occurred_at: datetime
    created_at: datetime
    metadata: dict[str, Any]
    seq: int


@dataclass(frozen=True, slots=True)
class CandidateRow:
    """What ranking and a hit need of a recall candidate (no metadata to decode), with its
    cosine similarity to the query."""

    id: UUID
    user_id: str
    role: Role
    content: str
    conversation_id: str | None
    occurred_at: datetime
    similarity: float


@dataclass(frozen=True, slots=True)
class ScopeRow:
    """An (agent, user, conversation) holding turns, and how many."""

    agent_id: UUID
    user_id: str
    conversation_id: str | None
    turns: int
    first_occurred_at: datetime
    last_occurred_at: datetime


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: UUID
    name: str
    created_at: datetime
    retention_days: int | None
    audit_reads: bool
    audit_query_text: bool
    rate_limit_per_s: float | None


@dataclass(frozen=True, slots=True)
class ErasureRow:
    """An entry of the erasure ledger."""

    id: UUID
    kind: str
    turns_erased: int
    audit_rows_erased: int
    requested_at: datetime
    completed_at: datetime
    subject_hash: bytes | None
    subject_hash_version: int | None
    cutoff: datetime | None
    key_id: UUID | None
    replay_of: UUID | None
    turn_ids: list[UUID] | None
    embedding_model: str | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    key_id: UUID | None
    operation: str
    agent_id: UUID
    user_id: str | None
    turn_ids: list[UUID]
    query: str | None
    as_of: datetime | None


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: UUID
    tenant_id: UUID
    name: str | None
    agent_id: UUID | None
    user_id: str | None
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class PrincipalRow:
    """What ``konstruct_authenticate`` answers for a live key."""

    key_id: UUID
    tenant_id: UUID
    agent_id: UUID | None
    user_id: str | None
    scopes: list[str]
    rate_limit_per_s: float | None
    audit_reads: bool


def columns(row_type: type[Any]) -> sql.Composable:
    """The SELECT list of a row type, in its fields' order (for ``args_row``)."""
    return sql.SQL(", ").join(sql.Identifier(f.name) for f in fields(row_type))
