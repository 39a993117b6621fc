"""History (the recent window), context (the window, recalled turns, a prompt block), one
turn by id, and the scopes that hold turns."""

from __future__ import annotations

from dataclasses import asdict, replace

from konstruct_memory.auth.principal import Principal
from konstruct_memory.engine.audit import ReadAudit
from konstruct_memory.engine.prompt import render_context
from konstruct_memory.engine.recall import ranked, scope_of
from konstruct_memory.engine.session import Session, resolved
from konstruct_memory.errors import Conflict, NotFound
from konstruct_memory.operations import (
    Context,
    ContextRequest,
    GetTurnRequest,
    History,
    HistoryRequest,
    Hit,
    Identity,
    ListScopesRequest,
    RecallRequest,
    Scopes,
    ScopeSummary,
    StoredTurn,
    WhoAmIRequest,
)
from konstruct_memory.operations.fields import SCOPES
from konstruct_memory.store import turns
from konstruct_memory.store.rows import TurnRow
from konstruct_memory.store.scope import Scope

_HISTORY = ReadAudit("history")
_GET_TURN = ReadAudit("get_turn")


def history(
    session: Session, request: HistoryRequest, audit: ReadAudit | None = _HISTORY
) -> History:
    """The newest turns, oldest first; ``audit=None``: a part of a larger read (context) that
    records itself later."""
    thread = Scope(
        agent_id=resolved(request.agent_id),
        user_id=resolved(request.user_id),
        conversation_id=request.conversation_id,
    )
    scope = replace(
        thread,
        since=request.since,
        until=request.until,
        roles=request.roles,
        as_of=request.as_of,
    )
    with session.read_transaction(scope.agent_id, scope.user_id) as tx:
        # The cursor must be a turn of the thread; the filters need not hold for it.
        if request.before is not None and not turns.cursor_exists(tx, thread, request.before):
            raise NotFound("before: no such turn in this conversation")
        rows = turns.history(tx, scope, request.limit, request.before)
        if audit is not None:
            audit.record(tx, session, scope, [row.id for row in rows])
    return History(turns=[stored_turn(row) for row in reversed(rows)])


def context(session: Session, request: ContextRequest) -> Context:
    """Over ``max_tokens``: the least relevant recalled turns go first, then the oldest recent
    ones; the newest turn is always kept. Tokens are counted with the all-MiniLM-L6-v2
    WordPiece tokenizer (offline)."""
    audit = ReadAudit("context", request.query)
    window: list[StoredTurn] = []
    if request.recent:
        window = history(
            session,
            HistoryRequest(
                agent_id=request.agent_id,
                user_id=request.user_id,
                limit=request.recent,
                conversation_id=request.conversation_id,
                as_of=request.as_of,
            ),
            # Recorded once, with the recalled turns, when there are any to recall.
            audit=None if request.k else audit,
        ).turns
    recalled: list[Hit] = []
    if request.k:
        shown = tuple(turn.id for turn in window)
        # Recalled turns come from every thread of the user with this agent.
        recall = RecallRequest(
            agent_id=request.agent_id,
            user_id=request.user_id,
            query=request.query,
            k=request.k,
            min_score=request.min_score,
            as_of=request.as_of,
        )
        scope = scope_of(session, recall, resolved(recall.user_id))
        audit = ReadAudit("context", request.query, shown)
        recalled = ranked(session, scope, recall, audit=audit, exclude=set(shown))
    return render_context(window, recalled, request.max_tokens, session.resources.tokens)


def get_turn(session: Session, request: GetTurnRequest) -> StoredTurn:
    """The turn, if it is within the key's binding: one outside it is as absent as one never
    stored (its existence is not disclosed). An id names one turn per (agent, user); when it
    names turns of several within the key's reach, the request must pick one."""
    principal = session.principal
    with session.read_transaction() as tx:
        rows = turns.turns_with_ids(tx, [request.turn_id], request.agent_id, request.user_id)
        seen = [row for row in rows if principal.may_see(row.agent_id, row.user_id)]
        if not seen:
            raise NotFound("turn_id: no such turn within this key's reach")
        if len(seen) > 1:
            raise Conflict(
                f"turn_id: names turns of {len(seen)} (agent, user) scopes within this key's "
                "reach; give agent_id and user_id"
            )
        row = seen[0]
        _GET_TURN.record(tx, session, Scope(agent_id=row.agent_id, user_id=row.user_id), [row.id])
    return stored_turn(row)


def list_scopes(session: Session, request: ListScopesRequest) -> Scopes:
    with session.read_transaction() as tx:
        rows = turns.scopes(tx, request.agent_id, request.user_id, request.limit, request.offset)
    return Scopes(scopes=[ScopeSummary(**asdict(row)) for row in rows])


def whoami(session: Session, request: WhoAmIRequest) -> Identity:
    return identity_of(session.principal)


def identity_of(principal: Principal) -> Identity:
    """What ``whoami`` answers for a tenant principal (no database work)."""
    return Identity(
        tenant_id=resolved(principal.tenant_id),
        key_id=principal.key_id,
        scopes=[scope for scope in SCOPES if scope in principal.scopes],
        agent_id=principal.agent_id,
        user_id=principal.user_id,
    )


def stored_turn(row: TurnRow) -> StoredTurn:
    # Typed by the database already: no second validation per row (a batch returns 1,000).
    return StoredTurn.model_construct(
        id=row.id,
        agent_id=row.agent_id,
        user_id=row.user_id,
        role=row.role,
        content=row.content,
        conversation_id=row.conversation_id,
        occurred_at=row.occurred_at,
        created_at=row.created_at,
        metadata=row.metadata,
    )
