"""Remember: store a batch of turns atomically, idempotently for ids the caller chose."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from konstruct_memory import tracing
from konstruct_memory.embed import Embedder, Vectors
from konstruct_memory.embed.windows import Windowed
from konstruct_memory.engine import idempotency, models
from konstruct_memory.engine.reads import stored_turn
from konstruct_memory.engine.session import Session, resolved
from konstruct_memory.errors import InvalidInput
from konstruct_memory.operations import Remembered, RememberRequest, Turn
from konstruct_memory.store import lifecycle
from konstruct_memory.store import models as beside
from konstruct_memory.store import turns as store
from konstruct_memory.store import windows as turn_windows
from konstruct_memory.store.rows import TurnRow
from konstruct_memory.store.turns import TurnKey


def remember(session: Session, request: RememberRequest) -> Remembered:
    """A turn whose ``id`` its agent and user already hold with the same fields is not stored
    again and comes back as it was first stored; the same ``id`` with other fields raises
    Conflict, and so does the id of a turn of theirs erased on request. An id stored or erased
    for another agent or user does not matter: there it names another turn."""
    valid = request.turns
    limit = session.settings.max_batch_turns
    if len(valid) > limit:
        raise InvalidInput("turns", f"must hold 1 to {limit} turns, got {len(valid)}")
    for i, turn in enumerate(valid):
        session.check_size(turn.content, f"turns[{i}].content")
    keys = idempotency.assign_ids(valid)
    # Only an id the caller chose can already be stored (a retry); generated ones are new.
    chosen = [key for key, turn in zip(keys, valid, strict=True) if turn.id is not None]
    stored: dict[TurnKey, TurnRow] = {}
    if chosen:
        with tracing.stage("read retried turns"), session.transaction() as tx:
            stored = store.turns_by_keys(tx, chosen)
    idempotency.check_retries(valid, keys, stored)
    new = idempotency.unique_new(valid, keys, stored)
    turns = [turn for _, turn in new]
    plan = models.cached(session)
    # Every model the tenant's turns need a vector of: the reads', and a switch's target.
    embedded = {model: _vectors_for(session, plan, model, turns) for model in plan.written}
    written = sorted({(resolved(t.agent_id), resolved(t.user_id)) for t in valid}, key=str)
    with tracing.stage("store turns"), session.write_transaction(written) as tx:
        plan = models.for_write(session, tx)  # held: no switch starts or flips until commit
        for model in plan.written:
            if model not in embedded:  # a switch started since this process last looked
                embedded[model] = _vectors_for(session, plan, model, turns)
        own = None if plan.beside else embedded[plan.reads][0]
        inserted = store.insert_turns(tx, plan.reads, new, own)
        new_keys = [idempotency.key_of(turn_id, turn) for turn_id, turn in new]
        beside_models = plan.beside_written
        for model in plan.written:
            vectors, windows = embedded[model]
            if model in beside_models:
                kept = [i for i, key in enumerate(new_keys) if key in inserted]
                beside.insert_vectors(tx, model, [new_keys[i] for i in kept], vectors[kept])
            # Windows of the turns inserted here only: a turn already stored has its own.
            by_turn = windows.by_text()
            new_windows = [
                (key, by_turn[i])
                for i, key in enumerate(new_keys)
                if i in by_turn and key in inserted
            ]
            turn_windows.insert_windows(tx, model, new_windows)
        if chosen:
            # Checked after the insert, in its transaction: an erasure that committed while
            # this batch waited is seen here, and the whole batch rolls back.
            ids = sorted({turn_id for turn_id, _, _ in chosen}, key=str)
            idempotency.refuse_erased(valid, keys, lifecycle.erased(tx, ids))
        rows = store.turns_by_keys(tx, keys)
        # A concurrent request may have stored one of our ids in between: same rule.
        raced = {idempotency.key_of(turn_id, turn) for turn_id, turn in new} - inserted
        idempotency.check_retries(valid, keys, {k: rows[k] for k in raced if k in rows})
    return Remembered(turns=[stored_turn(rows[key]) for key in keys])


def _vectors_for(
    session: Session, plan: models.ModelPlan, model: str, turns: Sequence[Turn]
) -> tuple[Vectors, Windowed]:
    """The vectors of ``model``, except, for the model the tenant reads, of turns that brought
    their own (normalised here; another model embeds every turn's content); and the window
    vectors of the long turns the model embedded (owners index ``turns``)."""
    embedder: Embedder = models.embedder_of(session, plan, model)
    vectors = np.empty((len(turns), embedder.dimension), dtype=np.float32)
    windows = Windowed(vectors[:0])
    own = model == plan.reads
    to_embed = [i for i, t in enumerate(turns) if t.embedding is None or not own]
    if to_embed:
        embedded = session.embed_turns([turns[i].content for i in to_embed], embedder)
        vectors[to_embed] = embedded.vectors
        owners = [to_embed[owner] for owner in embedded.owners]
        windows = Windowed(vectors, embedded.windows, owners)
    given = [i for i, t in enumerate(turns) if t.embedding is not None and own]
    if given:
        brought = np.array([turns[i].embedding for i in given], dtype=np.float64)
        # Scale by the largest coordinate first: 1e300 is a valid coordinate, its square is not.
        brought /= np.abs(brought).max(axis=1, keepdims=True)
        brought /= np.linalg.norm(brought, axis=1, keepdims=True)
        vectors[given] = brought
    return vectors, windows
