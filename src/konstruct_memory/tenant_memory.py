"""``TenantMemory``: a tenant as one principal sees it, the library's face of the tenant
operations. Each method builds the operation's request model and runs it through the engine,
exactly as the HTTP routes do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from konstruct_memory import consistency
from konstruct_memory.auth.principal import Principal
from konstruct_memory.engine.service import Engine
from konstruct_memory.operations import (
    AuditEntry,
    Context,
    ContextRequest,
    EraseRequest,
    Erasure,
    GetTurnRequest,
    HistoryRequest,
    Hit,
    Identity,
    ListAuditRequest,
    ListErasuresRequest,
    ListScopesRequest,
    RecallAcrossUsersRequest,
    RecallRequest,
    RememberRequest,
    ScopeSummary,
    StoredTurn,
    WhoAmIRequest,
    build,
)
from konstruct_memory.operations.base import R, Request, arguments
from konstruct_memory.types import (
    AgentId,
    ConversationId,
    ErasureId,
    Instant,
    ListingOrder,
    Roles,
    TurnId,
    TurnIds,
    TurnInput,
    UserId,
)


class TenantMemory:
    """Memory as one principal of one tenant sees it: ``Memory.tenant(id)`` (the owner) or
    ``Memory.acting_as(principal)`` (an API key's scopes and bindings)."""

    def __init__(self, engine: Engine, principal: Principal) -> None:
        self._engine = engine
        self.principal = principal
        self._position: str | None = None  # the newest: written here or observed
        self._observed: str | None = None  # the newest observed (written elsewhere)

    @property
    def tenant_id(self) -> UUID | None:
        return self.principal.tenant_id

    @property
    def position(self) -> str | None:
        """The newest write position this object wrote at or was told of (``observe``).
        Reads see those writes, even from a replica. Hand it to another process's
        ``observe`` (or send it as the ``Konstruct-Memory-Position`` header) for its reads to
        see them too."""
        return self._position

    def observe(self, position: str) -> None:
        """Make later reads see the write that answered with ``position`` (through another
        process or host of the service)."""
        consistency.parse_position(position)  # refuses a malformed one, naming the header
        self._observed = consistency.newest(self._observed, position)
        self._position = consistency.newest(self._position, position)

    def _run(self, request_type: type[Request[R]], local_names: dict[str, Any]) -> R:
        """Runs the request a method's arguments make (its ``locals()``: they are named after
        the request's fields) as this principal."""
        return self._tracked(build(request_type, **arguments(local_names)))

    def _tracked(self, request: Request[R]) -> R:
        """Runs ``request`` carrying the position observed from elsewhere, and keeps the one
        it wrote at. This process's own writes need no token: it waits for them per (agent,
        user) written (``WritePositions``), finer than one position for the whole tenant."""
        seen = consistency.parse_position(self._observed)
        result, committed = self._engine.run_tracked(self.principal, request, seen)
        if committed is not None:
            self._position = consistency.newest(
                self._position, consistency.position_text(committed)
            )
        return result

    def whoami(self) -> Identity:
        """This principal's tenant, scopes and binding."""
        return self._engine.run(self.principal, WhoAmIRequest())

    def remember(self, turns: Sequence[TurnInput]) -> list[StoredTurn]:
        """Store a batch of turns atomically; returns them as stored, in input order.

        A turn whose ``id`` is already stored with the same fields is not stored again and
        comes back as it was first stored; the same ``id`` with other fields raises Conflict.
        """
        return self._tracked(build(RememberRequest, turns=turns)).turns

    def remember_one(self, turn: TurnInput) -> StoredTurn:
        """``remember`` for a single turn."""
        return self.remember([turn])[0]

    def recall(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        query: str | None = None,
        k: int = 10,
        since: Instant | None = None,
        until: Instant | None = None,
        conversation_id: ConversationId | None = None,
        roles: Roles | None = None,
        min_score: float | None = None,
        as_of: Instant | None = None,
    ) -> list[Hit]:
        """The ``k`` older turns of this (agent, user) most relevant to ``query``, best first.

        Always min(k, turns in scope) hits, unless ``min_score`` (0 to 1) is given: hits
        scoring below it are left out, so fewer may come back. Relevance fuses vector
        similarity with keyword (full-text) matches, and lends part of a turn's score to its
        neighbours. With ``as_of``, only turns stored by then count (what memory held at that
        moment; erased turns stay erased).
        """
        return self._run(RecallRequest, locals()).hits

    def recall_across_users(
        self,
        agent_id: AgentId | None = None,
        query: str | None = None,
        k: int = 10,
        since: Instant | None = None,
        until: Instant | None = None,
        conversation_id: ConversationId | None = None,
        roles: Roles | None = None,
        min_score: float | None = None,
        as_of: Instant | None = None,
    ) -> list[Hit]:
        """Like ``recall``, over every user of the agent. Never the default: ask for it."""
        return self._run(RecallAcrossUsersRequest, locals()).hits

    def history(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        limit: int = 20,
        conversation_id: ConversationId | None = None,
        before: TurnId | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
        roles: Roles | None = None,
        as_of: Instant | None = None,
    ) -> list[StoredTurn]:
        """The newest ``limit`` turns, oldest first. Page back with ``before=<oldest id>``.
        With ``as_of``, only turns stored by then."""
        return self._run(HistoryRequest, locals()).turns

    def get_turn(
        self,
        turn_id: TurnId,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
    ) -> StoredTurn:
        """One stored turn by id (NotFound outside the key's binding, or once erased); an id
        names one turn per (agent, user): ``agent_id`` and ``user_id`` pick one."""
        return self._run(GetTurnRequest, locals())

    def list_scopes(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ScopeSummary]:
        """The (agent, user, conversation) scopes holding turns, with their turn counts."""
        return self._run(ListScopesRequest, locals()).scopes

    def context(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        query: str | None = None,
        recent: int = 10,
        k: int = 5,
        max_tokens: int | None = None,
        conversation_id: ConversationId | None = None,
        min_score: float | None = None,
        as_of: Instant | None = None,
    ) -> Context:
        """Recent turns, older relevant turns not among them, and a prompt-ready block.

        ``conversation_id`` narrows the recent window to one thread; recalled turns come from
        all of the user's threads with this agent. ``min_score`` leaves out recalled turns
        scoring below it. With ``max_tokens`` the block fits the budget: the least relevant
        recalled turns go first, then the oldest recent ones; the newest turn is always kept.
        With ``as_of``, both parts hold only turns stored by then.
        """
        return self._run(ContextRequest, locals())

    def erase(
        self,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        turn_ids: TurnIds | None = None,
    ) -> Erasure:
        """Erase every stored turn of an agent, a user, or the agent's user (and their read-audit
        rows), or only the turns named in ``turn_ids``; recorded in the ledger. Erasing again
        erases 0. Needs the ``erase`` scope."""
        return self._run(EraseRequest, locals())

    def list_erasures(
        self,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        order: ListingOrder = "asc",
        before: ErasureId | None = None,
    ) -> list[Erasure]:
        """The tenant's erasure ledger (requests and retention batches), oldest first."""
        return self._run(ListErasuresRequest, locals()).erasures

    def list_audit(
        self,
        since: Instant | None = None,
        until: Instant | None = None,
        limit: int = 100,
        agent_id: AgentId | None = None,
        user_id: UserId | None = None,
        order: ListingOrder = "asc",
        before: int | None = None,
    ) -> list[AuditEntry]:
        """Audited reads (while the tenant's ``audit_reads`` is on), oldest first."""
        return self._run(ListAuditRequest, locals()).entries
