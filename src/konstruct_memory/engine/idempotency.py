"""Idempotent writes: which turns of a batch are new, and whether a retry matches what is stored.

A turn with a caller-chosen id may be sent again (a retry after a timeout): the same fields
store nothing new, other fields are a Conflict. Generated ids are always new.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from konstruct_memory.errors import Conflict
from konstruct_memory.operations import Turn
from konstruct_memory.store.rows import TurnRow


def assign_ids(valid: Sequence[Turn]) -> list[UUID]:
    """Each turn's id: the caller's, or a new one. One id twice in a batch must be one turn."""
    ids: list[UUID] = []
    first: dict[UUID, int] = {}
    for i, turn in enumerate(valid):
        turn_id = turn.id or uuid.uuid4()
        if turn_id in first and not valid[first[turn_id]].same_turn_as(turn):
            raise Conflict(f"turns[{i}].id: repeats turns[{first[turn_id]}].id with other fields")
        first.setdefault(turn_id, i)
        ids.append(turn_id)
    return ids


def unique_new(
    valid: Sequence[Turn], ids: Sequence[UUID], stored: Mapping[UUID, Any]
) -> list[tuple[UUID, Turn]]:
    """The (id, turn) pairs to insert: neither stored already nor earlier in the batch."""
    seen: set[UUID] = set(stored)
    new: list[tuple[UUID, Turn]] = []
    for turn_id, turn in zip(ids, valid, strict=True):
        if turn_id not in seen:
            seen.add(turn_id)
            new.append((turn_id, turn))
    return new


def check_retries(
    valid: Sequence[Turn], ids: Sequence[UUID], stored: Mapping[UUID, TurnRow]
) -> None:
    for i, (turn_id, turn) in enumerate(zip(ids, valid, strict=True)):
        row = stored.get(turn_id)
        if row is not None and not same_turn(turn, row):
            raise Conflict(
                f"turns[{i}].id: a turn with this id is already stored with different fields; "
                "use a new id for a new turn"
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
