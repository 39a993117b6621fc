"""Every operation once: its name on the library and the client, what it needs, its HTTP route.

The faces are written against this table: the HTTP routes are built from it, the client reads
its method, path and status from it, and a test walks it to prove that the library, HTTP and
the client reach every operation with the same parameters.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Literal

from konstruct_memory.operations import admin, lifecycle, reads, turns
from konstruct_memory.operations.base import Request, Result, result_type

Access = Literal["read", "write", "erase", "audit", "admin", "key"]


@dataclass(frozen=True)
class Operation:
    name: str
    request: type[Request[Any]]
    access: Access  # the scope a key needs, any key, or the admin token
    method: Literal["GET", "POST", "PATCH", "DELETE"]
    path: str  # {fields} of the request travel in the path
    status: int = 200
    # POST and PATCH: whether a request may leave its JSON body out (every field's default).
    body_optional: bool = False

    @property
    def result(self) -> type[Result]:
        return result_type(self.request)

    @property
    def path_fields(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.path) if f)

    @property
    def in_query(self) -> bool:
        """GET and DELETE carry their other fields in the query string, POST and PATCH in a
        JSON body."""
        return self.method in ("GET", "DELETE")


OPERATIONS: tuple[Operation, ...] = (
    Operation("remember", turns.RememberRequest, "write", "POST", "/v1/turns", 201),
    Operation("recall", reads.RecallRequest, "read", "POST", "/v1/recall"),
    Operation(
        "recall_across_users",
        reads.RecallAcrossUsersRequest,
        "read",
        "POST",
        "/v1/recall/across-users",
    ),
    Operation("history", turns.HistoryRequest, "read", "GET", "/v1/history"),
    Operation("get_turn", turns.GetTurnRequest, "read", "GET", "/v1/turns/{turn_id}"),
    Operation("list_scopes", turns.ListScopesRequest, "read", "GET", "/v1/scopes"),
    Operation("context", reads.ContextRequest, "read", "POST", "/v1/context"),
    Operation("whoami", admin.WhoAmIRequest, "key", "GET", "/v1/whoami"),
    Operation("create_tenant", admin.CreateTenantRequest, "admin", "POST", "/v1/tenants", 201),
    Operation("list_tenants", admin.ListTenantsRequest, "admin", "GET", "/v1/tenants"),
    Operation(
        "create_api_key",
        admin.CreateApiKeyRequest,
        "admin",
        "POST",
        "/v1/tenants/{tenant_id}/api-keys",
        201,
        body_optional=True,
    ),
    Operation(
        "list_api_keys",
        admin.ListApiKeysRequest,
        "admin",
        "GET",
        "/v1/tenants/{tenant_id}/api-keys",
    ),
    Operation(
        "revoke_api_key", admin.RevokeApiKeyRequest, "admin", "DELETE", "/v1/api-keys/{key_id}", 204
    ),
    Operation(
        "update_tenant", lifecycle.UpdateTenantRequest, "admin", "PATCH", "/v1/tenants/{tenant_id}"
    ),
    Operation("erase", lifecycle.EraseRequest, "erase", "POST", "/v1/erasures", 201),
    Operation("list_erasures", lifecycle.ListErasuresRequest, "erase", "GET", "/v1/erasures"),
    Operation("list_audit", lifecycle.ListAuditRequest, "audit", "GET", "/v1/audit"),
    Operation(
        "erase_for_tenant",
        lifecycle.EraseForTenantRequest,
        "admin",
        "POST",
        "/v1/tenants/{tenant_id}/erasures",
        201,
    ),
    Operation(
        "list_erasures_for_tenant",
        lifecycle.ListErasuresForTenantRequest,
        "admin",
        "GET",
        "/v1/tenants/{tenant_id}/erasures",
    ),
    Operation(
        "list_audit_for_tenant",
        lifecycle.ListAuditForTenantRequest,
        "admin",
        "GET",
        "/v1/tenants/{tenant_id}/audit",
    ),
)

BY_REQUEST: dict[type[Request[Any]], Operation] = {op.request: op for op in OPERATIONS}
BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
