"""Finding what matters for a new message: recall, recall across users, context."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from konstruct_memory.operations.base import Request, Result
from konstruct_memory.operations.fields import (
    BOUND_AGENT,
    BOUND_USER,
    ContextK,
    ConversationId,
    K,
    MaxTokens,
    MinScore,
    Recent,
    Role,
    Text,
    Timestamp,
    UserId,
    Uuid,
)
from konstruct_memory.operations.turns import AS_OF, StoredTurn, TurnFilters


class ScoreParts(Result):
    """What a hit's score is made of (docs/http.md, "Scores")."""

    similarity: float | None = Field(
        description="Cosine similarity to the query (an absolute measure); "
        "null if the turn was not among the vector candidates"
    )
    vector: float = Field(
        description="The similarity on the score's fixed scale: 0 at or under the relevance "
        "floor (cosine 0.2), 1 at cosine 0.7 and above"
    )
    keyword: float = Field(
        description="Keyword coverage: the share of the query's idf weight this turn holds, "
        "in [0, 1]"
    )
    act: float = Field(
        default=1.0,
        description="Factor for what the turn does in the dialogue: 1, or less for a turn that "
        "only asks, or the assistant's short reaction to a relevant statement of the user",
    )
    neighbour: float = Field(
        description="Score borrowed from a better neighbouring turn in the thread (0: none); "
        "a turn with no own relevance borrows nothing into its score, only its place"
    )
    month: bool = Field(description="Said in a month the query names, or the month after")
    day: bool = Field(
        default=False,
        description="Said on a day the query names ('on 3 June, 2023'), in some time zone "
        "(UTC+14 to UTC-12)",
    )
    correction: float = Field(
        default=0.0,
        description="Score taken from an earlier turn of the same speaker that this turn "
        "corrects (worded as a revision, similar in meaning; 0: none)",
    )
    corrected: bool = Field(
        default=False,
        description="A later relevant turn of the same speaker corrects this one: its score "
        "is multiplied by 0.8 (the factor is part of act)",
    )
    keyword_pruned: list[str] | None = Field(
        default=None,
        description="In a scope of more than 5,000 turns, the query's words (as stemmed "
        "lexemes) held by so many of its turns that they were not searched: a turn holding "
        "only these was found by meaning alone, and scored by them all the same; their weight "
        "stays in keyword's total. Null when every word was searched. The same for every hit "
        "of a recall",
    )
    # Kept for the clients that read it: keyword matches were once looked for in a heavy
    # scope's most recent turns only; the postings now search every turn.
    keyword_window: int | None = Field(
        default=None,
        description="Always null: every turn of the scope is searched for the query's words "
        "(see keyword_pruned). Kept for clients written when a heavy scope's keyword search "
        "read its most recent 5,000 turns only",
    )


class Hit(Result):
    """A recalled turn with its relevance score: in [0, 1], higher is better, on a fixed scale
    (the same relevance scores the same in every call, whatever the scope); 0 means nothing in
    the turn matches the query. ``parts`` says what it is made of."""

    id: UUID
    user_id: str
    role: Role
    content: str
    occurred_at: datetime
    conversation_id: str | None
    score: float
    parts: ScoreParts | None = None
    metadata: dict[str, Any] | None = Field(
        default=None, description="The turn's metadata as stored"
    )


class Recalled(Result):
    hits: list[Hit] = Field(
        description="Best first; min(k, turns in scope) of them, fewer only when min_score "
        "leaves some out"
    )


class _Filters(TurnFilters, Request[Recalled]):
    """What narrows a recall: a time window, one thread, some roles."""


class RecallRequest(_Filters):
    """The ``k`` older turns of one (agent, user) most relevant to ``query``, best first."""

    agent_id: Uuid | None = Field(default=None, description=BOUND_AGENT)
    user_id: UserId | None = Field(default=None, description=BOUND_USER)
    query: Text
    k: K = 10
    min_score: MinScore | None = None


class RecallAcrossUsersRequest(_Filters):
    """Like recall, over every user of the agent. Never the default: ask for it."""

    agent_id: Uuid | None = Field(default=None, description=BOUND_AGENT)
    query: Text
    k: K = 10
    min_score: MinScore | None = None


class ContextMessage(Result):
    """A turn of the context block as data: what ``text`` shows, unescaped."""

    id: UUID
    section: Literal["recalled", "recent"]
    role: Role
    occurred_at: datetime
    content: str

    @classmethod
    def of(cls, turn: Hit | StoredTurn, section: Literal["recalled", "recent"]) -> ContextMessage:
        return cls(
            id=turn.id,
            section=section,
            role=turn.role,
            occurred_at=turn.occurred_at,
            content=turn.content,
        )


class Context(Result):
    """What an agent needs before replying: recent turns, relevant older ones, one text block."""

    recent: list[StoredTurn]
    recalled: list[Hit]
    text: str = Field(
        description="Prompt-ready block: a line per turn ('[time] role: content'), further "
        "lines of a content indented behind '  | ', invisible characters escaped"
    )
    tokens: int = Field(description="Size of text in all-MiniLM-L6-v2 WordPiece tokens")
    messages: list[ContextMessage] = Field(
        default_factory=list,
        description="The turns of text in its order (recalled oldest first, then recent), as data",
    )


class ContextRequest(Request[Context]):
    """Recent turns, older relevant turns not among them, and a prompt-ready block.

    ``conversation_id`` narrows the recent window to one thread; recalled turns come from all
    of the user's threads with this agent. With ``max_tokens`` the block fits the budget.
    """

    agent_id: Uuid | None = Field(default=None, description=BOUND_AGENT)
    user_id: UserId | None = Field(default=None, description=BOUND_USER)
    query: Text
    recent: Recent = 10
    k: ContextK = 5
    max_tokens: MaxTokens | None = None
    conversation_id: ConversationId | None = None
    min_score: MinScore | None = None
    as_of: Timestamp | None = Field(default=None, description=AS_OF)
