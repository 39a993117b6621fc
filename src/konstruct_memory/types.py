"""The types of the operations' parameters, named once for every face that takes them.

A face (the HTTP clients; the library too) takes ids and instants in the forms a caller has at
hand: a ``UUID`` or its text, a ``datetime`` or RFC 3339 text. These aliases say what each
parameter is instead of restating the union in every signature, as httpx names its parameter
types in one module. They check nothing: the request models of ``konstruct_memory.operations``
validate and convert every value (their field types are in ``operations.fields``), whatever
face it came through. None is never part of an alias: a parameter that may be left out says
``| None`` where it is declared, next to its default.

Standard library and the contract only: the light client imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

from konstruct_memory.operations.fields import Role
from konstruct_memory.operations.lifecycle import ListingOrder
from konstruct_memory.operations.turns import Turn

TenantId: TypeAlias = UUID | str
AgentId: TypeAlias = UUID | str
# The caller's own identifiers (a Slack user id, a thread), not UUIDs.
UserId: TypeAlias = str
ConversationId: TypeAlias = str
TurnId: TypeAlias = UUID | str
KeyId: TypeAlias = UUID | str
ErasureId: TypeAlias = UUID | str

# A point in time: a datetime with its offset, or the same as RFC 3339 text.
Instant: TypeAlias = datetime | str

TurnIds: TypeAlias = Sequence[TurnId]
Roles: TypeAlias = Sequence[Role]
# Scope names as text ("read", "write", ...): the request model refuses unknown ones.
KeyScopes: TypeAlias = Sequence[str]
# A turn to store: the model itself, or its fields as a mapping (a parsed JSON object).
TurnInput: TypeAlias = Turn | Mapping[str, Any]

__all__ = [
    "AgentId",
    "ConversationId",
    "ErasureId",
    "Instant",
    "KeyId",
    "KeyScopes",
    "ListingOrder",
    "Roles",
    "TenantId",
    "TurnId",
    "TurnIds",
    "TurnInput",
    "UserId",
]
