"""``Engine.run``: every face's one way in. Looks the operation up in the contract, checks the
principal against it, and hands the request to the operation's implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from konstruct_memory.auth.principal import Principal
from konstruct_memory.engine import access, admin, audit, erasure, reads, recall, remember
from konstruct_memory.engine.resources import Resources
from konstruct_memory.engine.session import Session
from konstruct_memory.operations import BY_REQUEST, Request, Result

R = TypeVar("R", bound=Result)

# Each operation's implementation, by its name in the registry.
_TENANT: dict[str, Callable[[Session, Any], Result]] = {
    "remember": remember.remember,
    "recall": recall.recall,
    "recall_across_users": recall.recall_across_users,
    "history": reads.history,
    "get_turn": reads.get_turn,
    "list_scopes": reads.list_scopes,
    "context": reads.context,
    "whoami": reads.whoami,
    "erase": erasure.erase,
    "list_erasures": erasure.list_erasures,
    "list_audit": audit.list_audit,
}
_ADMIN: dict[str, Callable[[Resources, Any], Result]] = {
    "create_tenant": admin.create_tenant,
    "list_tenants": admin.list_tenants,
    "create_api_key": admin.create_api_key,
    "list_api_keys": admin.list_api_keys,
    "revoke_api_key": admin.revoke_api_key,
    "update_tenant": admin.update_tenant,
    "erase_for_tenant": erasure.erase_for_tenant,
    "list_erasures_for_tenant": erasure.list_erasures_for_tenant,
    "list_audit_for_tenant": audit.list_audit_for_tenant,
}


class Engine:
    """Runs operations for principals over one set of resources (one per process)."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def run(self, principal: Principal, request: Request[R], seen: int | None = None) -> R:
        """The request's result; ``seen``: a write position the caller saw, which its reads
        must see (the consistency token)."""
        return self.run_tracked(principal, request, seen)[0]

    def run_tracked(
        self, principal: Principal, request: Request[R], seen: int | None = None
    ) -> tuple[R, int | None]:
        """The result, and the position the request's writes committed at (None: it wrote
        nothing), for the caller to carry to later reads."""
        operation = BY_REQUEST[type(request)]
        request = access.authorize(principal, operation, request)
        if operation.access == "admin":
            return cast(R, _ADMIN[operation.name](self.resources, request)), None
        session = Session(self.resources, principal, seen)
        result = _TENANT[operation.name](session, request)
        return cast(R, result), session.committed
