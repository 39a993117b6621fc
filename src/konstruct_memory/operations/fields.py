"""Field types of the operations contract: each one validates itself, the same for every face.

A rule lives here once. The library builds request models from its arguments, FastAPI parses
request bodies into them, the client builds them before sending: all three run these
validators. A failure names the problem and describes the value's shape (length, type), never
echoes the value itself. Deployment limits (largest content, largest batch) are settings and
are checked by the engine; everything a value must be to make sense is checked here.

Standard library and pydantic only: the light client imports this module.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NoReturn
from uuid import UUID

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

DIMENSION = 384
MAX_USER_ID_CHARS = 256
MAX_CONVERSATION_ID_CHARS = 256
MAX_NAME_CHARS = 200
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 32
MAX_K = 100
MAX_HISTORY = 1000
MAX_TOKENS = 1_000_000
MAX_LISTED = 1000
MAX_OFFSET = 1_000_000
# The deployment's limits are settings (config.py), checked by the engine; their defaults are
# named here, in the contract, so that every face (CLI help, MCP tool descriptions, the
# inspector) can state them without the server's dependencies.
DEFAULT_MAX_CONTENT_BYTES = 32 * 1024
DEFAULT_MAX_BATCH_TURNS = 1000

Role = Literal["user", "assistant"]
ROLES: tuple[Role, ...] = ("user", "assistant")
Scope = Literal["read", "write", "erase", "audit"]
SCOPES: tuple[Scope, ...] = ("read", "write", "erase", "audit")

BOUND_AGENT = "Required unless the API key is bound to an agent (then it may be omitted)"
BOUND_USER = "Required unless the API key is bound to a user (then it may be omitted)"

# The error type pydantic reports for our own rules; the message is ours, word for word.
RULE = "invalid_input"


def fail(message: str) -> NoReturn:
    raise PydanticCustomError(RULE, message)


def parse_uuid(value: object) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    fail("must be a UUID such as 3f2b8c1e-7d4a-4e0b-9c61-2a5f0d9e8b17")


def _check_text(value: str) -> None:
    if "\x00" in value:
        fail("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        fail("is not valid text (unpaired surrogate)")


def _identifier(max_chars: int) -> BeforeValidator:
    def check(value: object) -> str:
        if not isinstance(value, str):
            fail(f"must be a string, not {type(value).__name__}")
        if not value.strip():
            fail("must not be empty")
        if len(value) > max_chars:
            fail(f"is {len(value)} characters, the limit is {max_chars}")
        _check_text(value)
        return value

    return BeforeValidator(check)


def _text(value: object) -> str:
    if not isinstance(value, str):
        fail(f"must be a string, not {type(value).__name__}")
    if not value.strip():
        fail("must not be empty or only whitespace")
    _check_text(value)
    return value


def _role(value: object) -> Role:
    if value == "user":
        return "user"
    if value == "assistant":
        return "assistant"
    fail("must be 'user' or 'assistant'")


def _roles_given(value: object) -> object:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        fail("must be a non-empty list of 'user' and/or 'assistant'")
    return value


def _roles_once(value: list[Role]) -> list[Role]:
    return sorted(set(value))


def _scopes(value: object) -> list[Scope]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        fail("must be a non-empty list drawn from 'read', 'write', 'erase', 'audit'")
    if any(scope not in SCOPES for scope in value):
        fail("must hold only 'read', 'write', 'erase' and 'audit'")
    return [scope for scope in SCOPES if scope in value]


def parse_timestamp(value: object) -> datetime:
    """An aware datetime, from a datetime or an RFC 3339 string. Numbers are refused: an
    epoch is ambiguous (seconds? milliseconds?) and JSON clients send strings."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            fail("must be an RFC 3339 timestamp with an offset")
    if not isinstance(value, datetime):
        fail("must be an RFC 3339 timestamp with an offset, not a number")
    if value.tzinfo is None or value.utcoffset() is None:
        fail("must carry a UTC offset (e.g. 2026-03-01T12:00:00+00:00)")
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    # Years 1 and 9999 can cross into BC or 10000 in UTC, which drivers cannot read back.
    if in_utc is None or not 1 < in_utc.year < 9999:
        fail("must be between the years 2 and 9998")
    return value


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _metadata(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        fail("must be a JSON object")
    try:
        encoded = json.dumps(dict(value), allow_nan=False, ensure_ascii=False)
    except RecursionError:
        fail(f"is nested deeper than {MAX_METADATA_DEPTH} levels")
    except (TypeError, ValueError) as exc:
        fail(f"is not JSON-serialisable ({exc})")
    if "\\u0000" in encoded or "\x00" in encoded:
        fail("must not contain NUL characters")
    try:
        size = len(encoded.encode("utf-8"))
    except UnicodeEncodeError:
        fail("is not valid text (unpaired surrogate)")
    if size > MAX_METADATA_BYTES:
        fail(f"is larger than {MAX_METADATA_BYTES} bytes as JSON")
    loaded: dict[str, Any] = json.loads(encoded)
    if _depth(loaded) > MAX_METADATA_DEPTH:
        fail(f"is nested deeper than {MAX_METADATA_DEPTH} levels")
    return loaded


def _embedding(value: object) -> Sequence[float]:
    # Bulk imports validate ~1,000 of these per batch: C-level passes only. A NumPy vector is
    # checked with its own methods and kept (as a private float64 copy); anything else becomes
    # a tuple of floats after a type census, a conversion to doubles and one hypot.
    if _float_vector(value):
        copied: Any = value.astype("=f8")  # type: ignore[attr-defined]
        peak = float(abs(copied).max())
        if math.isfinite(peak) and 0.0 < peak < _SAFE_PEAK:
            return copied  # type: ignore[no-any-return]
        value = copied.tolist()  # the exact checks below say what is wrong
    numbers = _doubles(value)
    # hypot scales internally: 1e300 has a finite length although its square overflows. It is
    # finite exactly when every coordinate is finite and the length fits in a double.
    norm = math.hypot(*numbers)
    if not math.isfinite(norm):
        if not all(math.isfinite(x) for x in numbers):
            fail("must contain only finite numbers")
        fail("is too large to normalise (its length overflows)")
    if norm == 0.0:
        fail("must not be all zeros")
    return tuple(numbers)


# Below this, the length of 384 coordinates cannot overflow a double.
_SAFE_PEAK = 1e300


def _float_vector(value: object) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return kind == "f" and getattr(value, "shape", None) == (DIMENSION,)


def _doubles(value: object) -> array[float]:
    """The value as 384 doubles, or a failure saying what it is instead."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        fail(f"must be a list of {DIMENSION} numbers")
    if len(value) != DIMENSION:
        fail(f"has {len(value)} numbers, expected {DIMENSION}")
    if bool in set(map(type, value)):
        fail(f"must be a list of {DIMENSION} numbers, not booleans")
    try:
        return array("d", value)
    except TypeError:
        fail(f"must be a list of {DIMENSION} numbers")


def _as_list(value: Sequence[float]) -> list[float]:
    return value.tolist() if hasattr(value, "tolist") else list(value)


def limit_of(low: int, high: int) -> BeforeValidator:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(f"must be an integer from {low} to {high}")
        if not low <= value <= high:
            fail(f"must be from {low} to {high}, got {value}")
        return value

    return BeforeValidator(check)


def _score_threshold(value: object) -> float:
    # JSON `true` is not 1.0 and "0.5" is not a number: only real numbers, finite, in [0, 1].
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        fail("must be a number from 0 to 1")
    if not 0.0 <= value <= 1.0:
        fail(f"must be from 0 to 1, got {value}")
    return float(value)


Uuid = Annotated[UUID, BeforeValidator(parse_uuid)]
UserId = Annotated[str, _identifier(MAX_USER_ID_CHARS), Field(max_length=MAX_USER_ID_CHARS)]
ConversationId = Annotated[
    str, _identifier(MAX_CONVERSATION_ID_CHARS), Field(max_length=MAX_CONVERSATION_ID_CHARS)
]
Name = Annotated[str, _identifier(MAX_NAME_CHARS), Field(max_length=MAX_NAME_CHARS)]
Text = Annotated[str, BeforeValidator(_text), Field(min_length=1)]
RoleField = Annotated[Role, BeforeValidator(_role)]
Roles = Annotated[
    list[RoleField],
    BeforeValidator(_roles_given),
    AfterValidator(_roles_once),
    Field(min_length=1),
]
Scopes = Annotated[list[Scope], BeforeValidator(_scopes), Field(min_length=1)]
Timestamp = Annotated[
    datetime, BeforeValidator(parse_timestamp), Field(description="RFC 3339 with an offset")
]
Metadata = Annotated[dict[str, Any], BeforeValidator(_metadata)]
# Typed Any for the validator's sake (it alone checks the value, and a second pass over 384
# numbers per turn is measurable on bulk loads); the schema still says what it is.
Embedding = Annotated[
    Any,
    BeforeValidator(_embedding),
    PlainSerializer(_as_list, when_used="json"),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "number"},
            "minItems": DIMENSION,
            "maxItems": DIMENSION,
            "description": f"{DIMENSION} numbers, to import a turn embedded elsewhere",
        }
    ),
]
# Integers in a range (booleans and numeric strings refused: JSON `true` is not 1).
K = Annotated[int, limit_of(1, MAX_K), Field(ge=1, le=MAX_K)]
ContextK = Annotated[int, limit_of(0, MAX_K), Field(ge=0, le=MAX_K)]
HistoryLimit = Annotated[int, limit_of(1, MAX_HISTORY), Field(ge=1, le=MAX_HISTORY)]
Recent = Annotated[int, limit_of(0, MAX_HISTORY), Field(ge=0, le=MAX_HISTORY)]
MaxTokens = Annotated[int, limit_of(1, MAX_TOKENS), Field(ge=1, le=MAX_TOKENS)]
Listed = Annotated[int, limit_of(1, MAX_LISTED), Field(ge=1, le=MAX_LISTED)]
Offset = Annotated[int, limit_of(0, MAX_OFFSET), Field(ge=0, le=MAX_OFFSET)]
# The bounds come before the validator: after it, pydantic's schema spells them "ge" and "le",
# which JSON Schema (and so an OpenAPI client) does not know, instead of minimum and maximum.
MinScore = Annotated[
    float,
    Field(
        ge=0.0,
        le=1.0,
        description="Leave out hits scoring below this (scores have a fixed meaning: "
        "docs/http.md, 'Scores'); fewer than k may then come back",
    ),
    BeforeValidator(_score_threshold),
]
