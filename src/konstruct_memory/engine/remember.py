"""Remember: store a batch of turns atomically, idempotently for ids the caller chose."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import numpy as np

from konstruct_memory.embed import Vectors
from konstruct_memory.engine import idempotency
from konstruct_memory.engine.reads import stored_turn
from konstruct_memory.engine.session import Session, resolved
from konstruct_memory.errors import Conflict, InvalidInput
from konstruct_memory.operations import Remembered, RememberRequest, Turn
from konstruct_memory.store import lifecycle
from konstruct_memory.store import turns as store
from konstruct_memory.store.rows import TurnRow


def remember(session: Session, request: RememberRequest) -> Remembered:
    """A turn whose ``id`` is already stored with the same fields is not stored again and
    comes back as it was first stored; the same ``id`` with other fields raises Conflict, and
    so does the id of a turn erased on request."""
    valid = request.turns
    limit = session.settings.max_batch_turns
    if len(valid) > limit:
        raise InvalidInput("turns", f"must hold 1 to {limit} turns, got {len(valid)}")
    for i, turn in enumerate(valid):
        session.check_size(turn.content, f"turns[{i}].content")
    ids = idempotency.assign_ids(valid)
    # Only an id the caller chose can already be stored (a retry); generated ones are new.
    chosen = [turn.id for turn in valid if turn.id is not None]
    stored: dict[UUID, TurnRow] = {}
    if chosen:
        with session.transaction() as tx:
            stored = store.turns_by_ids(tx, chosen)
    idempotency.check_retries(valid, ids, stored)
    new = idempotency.unique_new(valid, ids, stored)
    vectors = _vectors_for(session, [turn for _, turn in new])
    written = sorted({(resolved(t.agent_id), resolved(t.user_id)) for t in valid}, key=str)
    with session.write_transaction(written) as tx:
        inserted = store.insert_turns(tx, session.embedding_model, new, vectors)
        if chosen:
            # Checked after the insert, in its transaction: an erasure that committed while
            # this batch waited is seen here, and the whole batch rolls back.
            _refuse_erased(valid, lifecycle.erased_ids(tx, chosen))
        rows = store.turns_by_ids(tx, ids)
        # A concurrent request may have stored one of our ids in between: same rule.
        raced = {turn_id for turn_id, _ in new} - inserted
        idempotency.check_retries(valid, ids, {i: rows[i] for i in raced if i in rows})
    return Remembered(turns=[stored_turn(rows[turn_id]) for turn_id in ids])


def _refuse_erased(valid: Sequence[Turn], erased: set[UUID]) -> None:
    """A retry must not bring back a turn erased on request (a retry queue would otherwise
    undo the erasure silently)."""
    for i, turn in enumerate(valid):
        if turn.id in erased:
            raise Conflict(
                f"turns[{i}].id: this turn was erased on request and is not stored again; "
                "drop it from the retry queue"
            )


def _vectors_for(session: Session, turns: Sequence[Turn]) -> Vectors:
    """The model's vectors, except for turns that brought their own (normalised here)."""
    vectors = np.empty((len(turns), session.resources.embedder.dimension), dtype=np.float32)
    to_embed = [i for i, t in enumerate(turns) if t.embedding is None]
    if to_embed:
        vectors[to_embed] = session.embed([turns[i].content for i in to_embed])
    given = [i for i, t in enumerate(turns) if t.embedding is not None]
    if given:
        brought = np.array([turns[i].embedding for i in given], dtype=np.float64)
        # Scale by the largest coordinate first: 1e300 is a valid coordinate, its square is not.
        brought /= np.abs(brought).max(axis=1, keepdims=True)
        brought /= np.linalg.norm(brought, axis=1, keepdims=True)
        vectors[given] = brought
    return vectors
