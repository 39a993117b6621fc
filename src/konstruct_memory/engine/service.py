"""``Engine.run``: every face's one way in. Looks the operation up in the contract, checks the
principal against it, and hands the request to the operation's implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from konstruct_memory.auth.principal import Principal
from konstruct_memory.engine import access, admin, audit, erasure, reads, recall, remember
from konstruct_memory.engine.resources import Resources
from konstruct_memory.engine.session import Session
from konstruct_memory.operations import (
    BY_REQUEST,
    ContextRequest,
    CreateApiKeyRequest,
    CreateTenantRequest,
    EraseForTenantRequest,
    EraseRequest,
    GetTurnRequest,
    HistoryRequest,
    ListApiKeysRequest,
    ListAuditForTenantRequest,
    ListAuditRequest,
    ListErasuresForTenantRequest,
    ListErasuresRequest,
    ListScopesRequest,
    ListTenantsRequest,
    RecallAcrossUsersRequest,
    RecallRequest,
    RememberRequest,
    Request,
    Result,
    RevokeApiKeyRequest,
    UpdateTenantRequest,
    WhoAmIRequest,
)

R = TypeVar("R", bound=Result)

_TENANT: dict[type[Request[Any]], Callable[[Session, Any], Result]] = {
    RememberRequest: remember.remember,
    RecallRequest: recall.recall,
    RecallAcrossUsersRequest: recall.recall_across_users,
    HistoryRequest: reads.history,
    GetTurnRequest: reads.get_turn,
    ListScopesRequest: reads.list_scopes,
    ContextRequest: reads.context,
    WhoAmIRequest: reads.whoami,
    EraseRequest: erasure.erase,
    ListErasuresRequest: erasure.list_erasures,
    ListAuditRequest: audit.list_audit,
}
_ADMIN: dict[type[Request[Any]], Callable[[Resources, Any], Result]] = {
    CreateTenantRequest: admin.create_tenant,
    ListTenantsRequest: admin.list_tenants,
    CreateApiKeyRequest: admin.create_api_key,
    ListApiKeysRequest: admin.list_api_keys,
    RevokeApiKeyRequest: admin.revoke_api_key,
    UpdateTenantRequest: admin.update_tenant,
    EraseForTenantRequest: erasure.erase_for_tenant,
    ListErasuresForTenantRequest: erasure.list_erasures_for_tenant,
    ListAuditForTenantRequest: audit.list_audit_for_tenant,
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
            return cast(R, _ADMIN[type(request)](self.resources, request)), None
        session = Session(self.resources, principal, seen)
        result = _TENANT[type(request)](session, request)
        return cast(R, result), session.committed
