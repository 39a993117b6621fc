"""Which turns a read may see, as one WHERE clause: the only place scope filters are written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.operations.fields import Role


@dataclass(frozen=True)
class Scope:
    """Turns of one agent: of one user, or of every user when ``user_id`` is None. The tenant
    is not part of it: it comes from the tenant transaction."""

    agent_id: UUID
    user_id: str | None
    embedding_model: str | None = None
    conversation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    roles: Sequence[Role] | None = None
    as_of: datetime | None = None  # stored at or before it
    # The model's vectors are beside the turns (``turn_vectors``: the tenant switched models,
    # store.models), not in their own column: the vector statements read that table, which
    # holds the columns filtered on here, while the others read every turn whatever its model.
    beside: bool = False

    @property
    def vectors(self) -> sql.Identifier:
        """The table of the scope's vectors."""
        return sql.Identifier("turn_vectors" if self.beside else "conversation_embeddings")

    def of_turns(self) -> Scope:
        """The scope for statements that read the turns' rows, not their vectors: a tenant
        whose vectors are beside the turns has one of the model for every turn, whatever
        model the turn's row names."""
        return replace(self, embedding_model=None) if self.beside else self

    def where(self, tx: TenantConnection) -> tuple[sql.Composable, dict[str, Any]]:
        """The WHERE clause (fixed fragments only) and its parameters, tenant included."""
        parts = [sql.SQL("tenant_id = %(tenant_id)s"), sql.SQL("agent_id = %(agent_id)s")]
        params = tx.params(agent_id=self.agent_id)
        optional: list[tuple[str, object, str]] = [
            ("user_id", self.user_id, "user_id = %(user_id)s"),
            ("embedding_model", self.embedding_model, "embedding_model = %(embedding_model)s"),
            ("conversation_id", self.conversation_id, "conversation_id = %(conversation_id)s"),
            ("since", self.since, "occurred_at >= %(since)s"),
            ("until", self.until, "occurred_at < %(until)s"),
            ("roles", list(self.roles) if self.roles else None, "role = ANY(%(roles)s)"),
            ("as_of", self.as_of, "created_at <= %(as_of)s"),
        ]
        for name, value, fragment in optional:
            if value is not None:
                parts.append(sql.SQL(fragment))  # fixed literals above, never caller text
                params[name] = value
        return sql.SQL(" AND ").join(parts), params


def equal_to(**columns: object) -> tuple[list[sql.Composable], dict[str, Any]]:
    """``column = %(column)s`` for each column given a value (None: not filtered), and the
    parameters: the optional agent and user of listings that need no agent."""
    parts: list[sql.Composable] = []
    params: dict[str, Any] = {}
    for column, value in columns.items():
        if value is not None:
            parts.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
            params[column] = value
    return parts, params
