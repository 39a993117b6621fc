"""The operations contract: one request and one result model per operation, shared by the
library, the HTTP API, the client, the CLI (and every face added later).

Light by design (pydantic and the standard library): the HTTP client imports it.
"""

from konstruct_memory.operations.admin import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeys,
    CreateApiKeyRequest,
    CreateTenantRequest,
    Identity,
    KeySpec,
    ListApiKeysRequest,
    ListTenantsRequest,
    RevokeApiKeyRequest,
    Tenant,
    TenantCreated,
    Tenants,
    WhoAmIRequest,
)
from konstruct_memory.operations.base import Request, Result, build
from konstruct_memory.operations.reads import (
    Context,
    ContextRequest,
    Hit,
    RecallAcrossUsersRequest,
    Recalled,
    RecallRequest,
)
from konstruct_memory.operations.registry import BY_NAME, BY_REQUEST, OPERATIONS, Operation
from konstruct_memory.operations.turns import (
    History,
    HistoryRequest,
    Remembered,
    RememberRequest,
    StoredTurn,
    Turn,
)

__all__ = [
    "BY_NAME",
    "BY_REQUEST",
    "OPERATIONS",
    "ApiKey",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "ApiKeys",
    "Context",
    "ContextRequest",
    "CreateApiKeyRequest",
    "CreateTenantRequest",
    "History",
    "HistoryRequest",
    "Hit",
    "Identity",
    "KeySpec",
    "ListApiKeysRequest",
    "ListTenantsRequest",
    "Operation",
    "RecallAcrossUsersRequest",
    "RecallRequest",
    "Recalled",
    "RememberRequest",
    "Remembered",
    "Request",
    "Result",
    "RevokeApiKeyRequest",
    "StoredTurn",
    "Tenant",
    "TenantCreated",
    "Tenants",
    "Turn",
    "WhoAmIRequest",
    "build",
]
