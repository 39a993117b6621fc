"""Writing and reading turns: remember, history, one turn by id, and the scopes that hold
turns."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from konstruct_memory.operations.base import Request, Result
from konstruct_memory.operations.fields import (
    BOUND_AGENT,
    BOUND_USER,
    ConversationId,
    Embedding,
    HistoryLimit,
    Listed,
    Metadata,
    Offset,
    Role,
    RoleField,
    Roles,
    Text,
    Timestamp,
    UserId,
    Uuid,
    fail,
)


class Turn(BaseModel):
    """One chat turn to remember: ``role`` and ``content``, and the ``agent_id`` and ``user_id``
    it belongs to (which a key bound to them may leave out). ``id`` makes retries idempotent;
    ``embedding`` (384 numbers) skips embedding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: Uuid | None = Field(default=None, description=BOUND_AGENT)
    user_id: UserId | None = Field(default=None, description=BOUND_USER)
    role: RoleField
    content: Text
    id: Uuid | None = None
    conversation_id: ConversationId | None = None
    occurred_at: Timestamp | None = None
    metadata: Metadata = Field(default_factory=dict)
    embedding: Embedding | None = None

    def same_turn_as(self, other: Turn) -> bool:
        """Equal in every stored field (the embedding is derived, not compared)."""
        return self.model_dump(exclude={"embedding"}) == other.model_dump(exclude={"embedding"})


class StoredTurn(Result):
    """A turn as stored: what ``remember`` returns and ``history`` lists."""

    id: UUID
    agent_id: UUID
    user_id: str
    role: Role
    content: str
    conversation_id: str | None
    occurred_at: datetime
    created_at: datetime
    metadata: dict[str, Any]


class Remembered(Result):
    """The turns of a remember call as stored, in input order (a retried id as first stored)."""

    turns: list[StoredTurn]


class RememberRequest(Request[Remembered]):
    """Store a batch of turns atomically."""

    turns: list[Turn] = Field(min_length=1)


AS_OF = (
    "Only turns the service had stored by then (their created_at, not the occurred_at the "
    "caller gave): what memory held at that moment, ranked as it would be now. Erased turns "
    "stay erased; a moment in the future is the present"
)


class TurnFilters(BaseModel):
    """What narrows the turns a read looks at: a time window, one thread, some roles."""

    since: Timestamp | None = Field(default=None, description="Turns at or after it")
    until: Timestamp | None = Field(default=None, description="Turns before it (exclusive)")
    conversation_id: ConversationId | None = None
    roles: Roles | None = None
    as_of: Timestamp | None = Field(default=None, description=AS_OF)

    @field_validator("until")
    @classmethod
    def _after_since(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if until is not None and since is not None and until <= since:
            fail("must be later than since")
        return until


class History(Result):
    turns: list[StoredTurn] = Field(description="Oldest first")


class HistoryRequest(TurnFilters, Request[History]):
    """The newest ``limit`` turns of an (agent, user), oldest first; page back with
    ``before=<the oldest id shown>``. The filters narrow which turns count."""

    agent_id: Uuid | None = Field(default=None, description=BOUND_AGENT)
    user_id: UserId | None = Field(default=None, description=BOUND_USER)
    limit: HistoryLimit = 20
    before: Uuid | None = None


class GetTurnRequest(Request[StoredTurn]):
    """One stored turn by its id. A turn outside the key's binding is not found (404), as is
    one never stored or since erased. An id names one turn per (agent, user): when it names
    turns of several within the key's reach, give ``agent_id`` and ``user_id`` (409 otherwise)."""

    turn_id: Uuid
    agent_id: Uuid | None = Field(default=None, description="Only a turn of this agent")
    user_id: UserId | None = Field(default=None, description="Only a turn of this user")


class ScopeSummary(Result):
    """One (agent, user, conversation) that holds turns: how many, and over what time."""

    agent_id: UUID
    user_id: str
    conversation_id: str | None = Field(description="Null: turns stored without one")
    turns: int
    first_occurred_at: datetime
    last_occurred_at: datetime


class Scopes(Result):
    scopes: list[ScopeSummary] = Field(
        description="Ordered by agent_id, user_id, then conversation_id (null first)"
    )


class ListScopesRequest(Request[Scopes]):
    """The (agent, user, conversation) scopes of the tenant that hold turns, with their turn
    counts: what there is to browse. Narrow to one agent or user; a bound key sees only its
    binding. Page with ``offset``."""

    agent_id: Uuid | None = Field(default=None, description="Only this agent's scopes")
    user_id: UserId | None = Field(default=None, description="Only this user's scopes")
    limit: Listed = 100
    offset: Offset = 0
