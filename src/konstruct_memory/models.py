"""What goes in and comes out of memory, and the validation of what goes in.

Every check raises InvalidInput naming the field (``turns[3].content``) and the problem. Error
messages describe the value's shape (length, type), never echo the content itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import numpy as np

from konstruct_memory.embed import DIMENSION, Vectors
from konstruct_memory.errors import InvalidInput

Role = Literal["user", "assistant"]
ROLES: tuple[Role, ...] = ("user", "assistant")
MAX_USER_ID_CHARS = 256
MAX_CONVERSATION_ID_CHARS = 256
MAX_METADATA_BYTES = 16 * 1024


@dataclass(frozen=True)
class Turn:
    """One chat turn to remember. Only ``agent_id``, ``user_id``, ``role``, ``content`` are
    required; ``id`` makes retries idempotent; ``embedding`` (384 numbers) skips embedding."""

    agent_id: UUID | str
    user_id: str
    role: str
    content: str
    id: UUID | str | None = None
    conversation_id: str | None = None
    occurred_at: datetime | str | None = None
    metadata: Mapping[str, Any] | None = None
    embedding: Sequence[float] | None = None


@dataclass(frozen=True)
class ValidTurn:
    """A Turn that passed validation, with values in their stored types."""

    id: UUID | None
    agent_id: UUID
    user_id: str
    role: Role
    content: str
    conversation_id: str | None
    occurred_at: datetime | None
    metadata: dict[str, Any]
    embedding: Vectors | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StoredTurn:
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


@dataclass(frozen=True)
class Hit:
    """A recalled turn with its relevance score (higher is better; comparable within a call)."""

    id: UUID
    role: Role
    content: str
    occurred_at: datetime
    conversation_id: str | None
    score: float
    user_id: str


@dataclass(frozen=True)
class Context:
    """What an agent needs before replying: recent turns, relevant older ones, one text block."""

    recent: list[StoredTurn]
    recalled: list[Hit]
    text: str
    tokens: int


def validate_turn(
    turn: Turn | Mapping[str, Any], where: str, *, max_content_bytes: int
) -> ValidTurn:
    """Check one turn; ``where`` prefixes field names in errors (e.g. ``turns[3]``)."""
    if isinstance(turn, Mapping):
        unknown = set(turn) - set(Turn.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"{where}.{sorted(unknown)[0]}", "unknown field")
        try:
            turn = Turn(**turn)
        except TypeError as exc:
            raise InvalidInput(where, f"missing a required field ({exc})") from None
    return ValidTurn(
        id=None if turn.id is None else parse_uuid(turn.id, f"{where}.id"),
        agent_id=parse_uuid(turn.agent_id, f"{where}.agent_id"),
        user_id=check_identifier(turn.user_id, f"{where}.user_id", MAX_USER_ID_CHARS),
        role=check_role(turn.role, f"{where}.role"),
        content=check_content(turn.content, f"{where}.content", max_content_bytes),
        conversation_id=None
        if turn.conversation_id is None
        else check_identifier(
            turn.conversation_id, f"{where}.conversation_id", MAX_CONVERSATION_ID_CHARS
        ),
        occurred_at=None
        if turn.occurred_at is None
        else parse_timestamp(turn.occurred_at, f"{where}.occurred_at"),
        metadata=check_metadata(turn.metadata, f"{where}.metadata"),
        embedding=None
        if turn.embedding is None
        else check_embedding(turn.embedding, f"{where}.embedding"),
    )


def parse_uuid(value: object, name: str) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise InvalidInput(name, "must be a UUID such as 3f2b8c1e-7d4a-4e0b-9c61-2a5f0d9e8b17")


def check_identifier(value: object, name: str, max_chars: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(name, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(name, "must not be empty")
    if len(value) > max_chars:
        raise InvalidInput(name, f"is {len(value)} characters, the limit is {max_chars}")
    _check_text(value, name)
    return value


def check_role(value: object, name: str) -> Role:
    if value == "user":
        return "user"
    if value == "assistant":
        return "assistant"
    raise InvalidInput(name, "must be 'user' or 'assistant'")


def check_content(value: object, name: str, max_bytes: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(name, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidInput(name, "must not be empty or only whitespace")
    _check_text(value, name)
    size = len(value.encode("utf-8"))
    if size > max_bytes:
        raise InvalidInput(name, f"is {size} bytes of UTF-8, the limit is {max_bytes}")
    return value


def _check_text(value: str, name: str) -> None:
    if "\x00" in value:
        raise InvalidInput(name, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(name, "is not valid text (unpaired surrogate)") from None


def parse_timestamp(value: object, name: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidInput(name, "must be an RFC 3339 timestamp with an offset") from None
    if not isinstance(value, datetime):
        raise InvalidInput(name, "must be a timestamp")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(name, "must carry a UTC offset (e.g. 2026-03-01T12:00:00+00:00)")
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    # Years 1 and 9999 can cross into BC or 10000 in UTC, which drivers cannot read back.
    if in_utc is None or not 1 < in_utc.year < 9999:
        raise InvalidInput(name, "must be between the years 2 and 9998")
    return value


def check_metadata(value: object, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(name, "must be a JSON object")
    try:
        encoded = json.dumps(dict(value), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(name, f"is not JSON-serialisable ({exc})") from None
    if "\\u0000" in encoded or "\x00" in encoded:
        raise InvalidInput(name, "must not contain NUL characters")
    try:
        size = len(encoded.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(name, "is not valid text (unpaired surrogate)") from None
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(name, f"is larger than {MAX_METADATA_BYTES} bytes as JSON")
    loaded: dict[str, Any] = json.loads(encoded)
    return loaded


def check_embedding(value: object, name: str) -> Vectors:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise InvalidInput(name, f"must be a list of {DIMENSION} numbers")
    try:
        vector = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(name, f"must be a list of {DIMENSION} numbers") from None
    if vector.shape != (DIMENSION,):
        raise InvalidInput(name, f"has shape {vector.shape}, expected {DIMENSION} numbers")
    if not np.all(np.isfinite(vector)):
        raise InvalidInput(name, "must contain only finite numbers")
    norm = float(np.linalg.norm(vector))
    if norm == 0.0 or not math.isfinite(norm):
        raise InvalidInput(name, "must not be all zeros")
    result: Vectors = (vector / norm).astype(np.float32)
    return result


def check_limit(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(name, f"must be an integer from {low} to {high}")
    if not low <= value <= high:
        raise InvalidInput(name, f"must be from {low} to {high}, got {value}")
    return value


def check_query(value: object, name: str, max_bytes: int) -> str:
    return check_content(value, name, max_bytes)


def check_roles(value: object, name: str) -> list[Role] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise InvalidInput(name, "must be a non-empty list of 'user' and/or 'assistant'")
    return sorted({check_role(role, f"{name}[{i}]") for i, role in enumerate(value)})
