"""Idempotent writes: which turns of a batch are new, and whether a retry matches what is stored.

A turn with a caller-chosen id may be sent again (a retry after a timeout): the same fields
store nothing new, other fields are a Conflict. Generated ids are always new. An id names one
turn within its (agent, user): the same id for another agent or user is another turn, so what
one scope holds never decides a write to another.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence, Set
from decimal import Decimal
from typing import Any
from uuid import UUID

from konstruct_memory.engine.session import resolved
from konstruct_memory.errors import Conflict
from konstruct_memory.operations import Turn
from konstruct_memory.store.rows import TurnRow
from konstruct_memory.store.turns import TurnKey


def key_of(turn_id: UUID, turn: Turn) -> TurnKey:
    """The turn's identity: its id within its (agent, user), which the access check filled in."""
    return turn_id, resolved(turn.agent_id), resolved(turn.user_id)


def assign_ids(valid: Sequence[Turn]) -> list[TurnKey]:
    """Each turn's key: the caller's id, or a new one. One id twice in a batch, for the same
    agent and user, must be one turn."""
    keys: list[TurnKey] = []
    first: dict[TurnKey, int] = {}
    for i, turn in enumerate(valid):
        key = key_of(turn.id or uuid.uuid4(), turn)
        if key in first and not valid[first[key]].same_turn_as(turn):
            raise Conflict(f"turns[{i}].id: repeats turns[{first[key]}].id with other fields")
        first.setdefault(key, i)
        keys.append(key)
    return keys


def unique_new(
    valid: Sequence[Turn], keys: Sequence[TurnKey], stored: Mapping[TurnKey, Any]
) -> list[tuple[UUID, Turn]]:
    """The (id, turn) pairs to insert: neither stored already nor earlier in the batch."""
    seen: set[TurnKey] = set(stored)
    new: list[tuple[UUID, Turn]] = []
    for key, turn in zip(keys, valid, strict=True):
        if key not in seen:
            seen.add(key)
            new.append((key[0], turn))
    return new


def check_retries(
    valid: Sequence[Turn], keys: Sequence[TurnKey], stored: Mapping[TurnKey, TurnRow]
) -> None:
    for i, (key, turn) in enumerate(zip(keys, valid, strict=True)):
        row = stored.get(key)
        if row is not None and not same_turn(turn, row):
            raise Conflict(
                f"turns[{i}].id: a turn with this id is already stored with different fields; "
                "use a new id for a new turn"
            )


def refuse_erased(
    valid: Sequence[Turn],
    keys: Sequence[TurnKey],
    tombstones: Set[tuple[UUID, UUID | None, str | None]],
) -> None:
    """A retry must not bring back a turn erased on request (a retry queue would otherwise
    undo the erasure silently). A tombstone refuses its id in its own (agent, user) only, or
    in every scope when it predates scoped ids (agent and user None)."""
    for i, key in enumerate(keys):
        if key in tombstones or (key[0], None, None) in tombstones:
            raise Conflict(
                f"turns[{i}].id: this turn was erased on request and is not stored again; "
                "drop it from the retry queue"
            )


def same_turn(turn: Turn, row: TurnRow) -> bool:
    return (
        turn.agent_id == row.agent_id
        and turn.user_id == row.user_id
        and turn.role == row.role
        and turn.content == row.content
        and turn.conversation_id == row.conversation_id
        and canonical_json(turn.metadata) == canonical_json(row.metadata)
        and (turn.occurred_at is None or turn.occurred_at == row.occurred_at)
    )


def canonical_json(value: object) -> object:
    """JSON as jsonb compares it: 1e23 and 100000000000000000000000 are the same number."""
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)
