"""What a principal may do: the one place a request is checked against its credential.

A key needs the operation's scope (``read``, ``write``, ``erase`` or ``audit``); a key bound to
an agent or a user may name only that agent or user, in every turn of a batch, and may leave
them out (they are filled in from the binding); a user-bound key may not recall across users.
Erasure and the audit trail take an agent, a user or both: an unbound key may leave either out
(all agents, all users), a bound key is confined to its binding. The erasure ledger spans the
tenant, so only an unbound key lists it. The scope listing takes an agent or user like the
audit trail. A turn fetched by id is checked against the binding once it is read (the engine
answers 404 outside it). Administration needs the admin token.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from konstruct_memory.auth.principal import Principal
from konstruct_memory.errors import Forbidden, InvalidInput
from konstruct_memory.operations import (
    EraseRequest,
    GetTurnRequest,
    ListAuditRequest,
    ListErasuresRequest,
    ListScopesRequest,
    Operation,
    RecallAcrossUsersRequest,
    RememberRequest,
)

M = TypeVar("M", bound=BaseModel)


def authorize(principal: Principal, operation: Operation, request: M) -> M:
    """``request`` with the principal's bindings filled in, or Forbidden if it may not run."""
    if operation.access == "admin":
        if not principal.admin:
            raise Forbidden(f"{operation.name} needs the admin token")
        return request
    if principal.tenant_id is None:
        raise Forbidden(f"{operation.name} needs a tenant API key, not the admin token")
    if operation.access == "key":
        return request
    if operation.access not in principal.scopes:
        raise Forbidden(f"{operation.name} needs the '{operation.access}' scope; this key lacks it")
    if isinstance(request, RecallAcrossUsersRequest) and principal.user_id is not None:
        raise Forbidden(
            f"recall across users: this key is bound to user {principal.user_id!r} only"
        )
    if isinstance(request, RememberRequest):
        turns = [_bound(principal, turn, f"turns[{i}].") for i, turn in enumerate(request.turns)]
        return request.model_copy(update={"turns": turns})
    if isinstance(request, ListErasuresRequest):
        if principal.agent_id is not None or principal.user_id is not None:
            raise Forbidden("list erasures: the ledger spans the tenant; this key is bound")
        return request
    if isinstance(request, GetTurnRequest):
        return request
    optional = isinstance(request, EraseRequest | ListAuditRequest | ListScopesRequest)
    return _bound(principal, request, "", required=not optional)


def _bound(principal: Principal, subject: M, where: str, *, required: bool = True) -> M:
    """``subject`` (a request or a turn) checked against, and completed from, the binding."""
    update: dict[str, Any] = {}
    # The binding's agent, and its user where the subject names one; each either given as
    # bound, or filled in from the binding.
    checked: list[tuple[str, UUID | str | None, str]] = [
        ("agent", principal.agent_id, str(principal.agent_id))
    ]
    if "user_id" in type(subject).model_fields:
        checked.append(("user", principal.user_id, repr(principal.user_id)))
    for kind, bound, shown in checked:
        field = f"{kind}_id"
        given = getattr(subject, field, None)
        if bound is not None:
            if given is not None and given != bound:
                raise Forbidden(f"{where}{field}: this key is bound to {kind} {shown}")
            update[field] = bound
        elif given is None and required:
            raise InvalidInput(f"{where}{field}", _required(principal, kind))
    return subject.model_copy(update=update) if update else subject


def _required(principal: Principal, what: str) -> str:
    return "is required" + (f" (this key is bound to no {what})" if principal.key_id else "")
