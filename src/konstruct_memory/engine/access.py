"""What a principal may do: the one place a request is checked against its credential.

A key needs the operation's scope (``read`` or ``write``); a key bound to an agent or a user
may name only that agent or user, in every turn of a batch; a user-bound key may not recall
across users. Administration needs the admin token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from konstruct_memory.auth.principal import Principal
from konstruct_memory.errors import Forbidden
from konstruct_memory.operations import Operation, RecallAcrossUsersRequest, RememberRequest


def authorize(principal: Principal, operation: Operation, request: Any) -> None:
    """Raise Forbidden unless ``principal`` may run ``operation`` with ``request``."""
    if operation.access == "admin":
        if not principal.admin:
            raise Forbidden(f"{operation.name} needs the admin token")
        return
    if principal.tenant_id is None:
        raise Forbidden(f"{operation.name} needs a tenant API key, not the admin token")
    if operation.access not in principal.scopes:
        raise Forbidden(f"{operation.name} needs the '{operation.access}' scope; this key lacks it")
    if isinstance(request, RecallAcrossUsersRequest) and principal.user_id is not None:
        raise Forbidden(
            f"recall across users: this key is bound to user {principal.user_id!r} only"
        )
    for where, agent_id, user_id in _subjects(request):
        if principal.agent_id is not None and agent_id != principal.agent_id:
            raise Forbidden(f"{where}agent_id: this key is bound to agent {principal.agent_id}")
        if principal.user_id is not None and user_id is not None and user_id != principal.user_id:
            raise Forbidden(f"{where}user_id: this key is bound to user {principal.user_id!r}")


def _subjects(request: Any) -> Iterator[tuple[str, UUID, str | None]]:
    """(field prefix, agent_id, user_id) of everything the request reads or writes."""
    if isinstance(request, RememberRequest):
        for i, turn in enumerate(request.turns):
            yield f"turns[{i}].", turn.agent_id, turn.user_id
    else:
        yield "", request.agent_id, getattr(request, "user_id", None)
