"""Every face over one recording engine: what each face hands the engine, for the parity test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from konstruct_memory.auth.principal import Principal
from konstruct_memory.client import AdminClient, AsyncAdminClient, AsyncClient, Client
from konstruct_memory.config import Settings
from konstruct_memory.library import Memory, TenantMemory
from konstruct_memory.operations import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyRevoked,
    ApiKeys,
    AuditEntry,
    AuditTrail,
    Context,
    ContextRequest,
    CreateApiKeyRequest,
    CreateTenantRequest,
    EraseForTenantRequest,
    EraseRequest,
    Erasure,
    Erasures,
    GetTurnRequest,
    History,
    HistoryRequest,
    Hit,
    Identity,
    ListApiKeysRequest,
    ListAuditForTenantRequest,
    ListAuditRequest,
    ListErasuresForTenantRequest,
    ListErasuresRequest,
    ListScopesRequest,
    ListTenantsRequest,
    RecallAcrossUsersRequest,
    Recalled,
    RecallRequest,
    Remembered,
    RememberRequest,
    Request,
    Result,
    RevokeApiKeyRequest,
    Scopes,
    ScopeSummary,
    StoredTurn,
    Tenant,
    TenantCreated,
    Tenants,
    UpdateTenantRequest,
    WhoAmIRequest,
)
from konstruct_memory.serving import create_app

TENANT = UUID("10000000-0000-4000-8000-000000000001")
AGENT = UUID("20000000-0000-4000-8000-000000000002")
KEY = UUID("30000000-0000-4000-8000-000000000003")
TURN = UUID("40000000-0000-4000-8000-000000000004")
ERASURE = UUID("60000000-0000-4000-8000-000000000006")
T1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T2 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
T3 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ADMIN_TOKEN = "unit-admin-token"
WRITTEN_AT = 0x1_6B37_4800  # a write position, past 4 GiB of WAL: both halves of a pg_lsn
API_KEY = "km_unit"

# One call per operation with every parameter set to a value other than its default, so a face
# that drops or renames any parameter hands the engine a different request.
CALLS: dict[str, dict[str, Any]] = {
    "remember": {
        "turns": [
            {
                "agent_id": str(AGENT),
                "user_id": "U1",
                "role": "assistant",
                "content": "the answer is 42",
                "id": str(TURN),
                "conversation_id": "thread-1",
                "occurred_at": T1.isoformat(),
                "metadata": {"channel": "C1", "n": [1, 2]},
                "embedding": [0.5] + [0.0] * 383,
            }
        ]
    },
    "recall": {
        "agent_id": str(AGENT),
        "user_id": "U1",
        "query": "what is the answer?",
        "k": 7,
        "since": T1.isoformat(),
        "until": T2.isoformat(),
        "conversation_id": "thread-1",
        "roles": ["assistant"],
        "min_score": 0.25,
        "as_of": T3.isoformat(),
    },
    "recall_across_users": {
        "agent_id": str(AGENT),
        "query": "what is the answer?",
        "k": 3,
        "since": T1.isoformat(),
        "until": T2.isoformat(),
        "conversation_id": "thread-1",
        "roles": ["user"],
        "min_score": 0.5,
        "as_of": T3.isoformat(),
    },
    "history": {
        "agent_id": str(AGENT),
        "user_id": "U1",
        "limit": 5,
        "conversation_id": "thread-1",
        "before": str(TURN),
        "since": T1.isoformat(),
        "until": T2.isoformat(),
        "roles": ["user", "assistant"],
        "as_of": T3.isoformat(),
    },
    "context": {
        "agent_id": str(AGENT),
        "user_id": "U1",
        "query": "the answer",
        "recent": 4,
        "k": 2,
        "max_tokens": 300,
        "conversation_id": "thread-1",
        "min_score": 0.75,
        "as_of": T3.isoformat(),
    },
    "get_turn": {"turn_id": str(TURN), "agent_id": str(AGENT), "user_id": "U1"},
    "list_scopes": {"agent_id": str(AGENT), "user_id": "U1", "limit": 5, "offset": 3},
    "whoami": {},
    "create_tenant": {"name": "acme"},
    "list_tenants": {},
    "create_api_key": {
        "tenant_id": str(TENANT),
        "name": "support bot",
        "agent_id": str(AGENT),
        "user_id": "U1",
        "scopes": ["read"],
    },
    "list_api_keys": {"tenant_id": str(TENANT)},
    "revoke_api_key": {"key_id": str(KEY)},
    "update_tenant": {
        "tenant_id": str(TENANT),
        "retention_days": 30,
        "audit_reads": True,
        "audit_query_text": True,
        "rate_limit_per_s": 2.5,
    },
    "erase": {"agent_id": str(AGENT), "user_id": "U1", "turn_ids": [str(TURN)]},
    "list_erasures": {
        "since": T1.isoformat(),
        "until": T2.isoformat(),
        "limit": 5,
        "order": "desc",
        "before": str(ERASURE),
    },
    "list_audit": {
        "since": T1.isoformat(),
        "until": T2.isoformat(),
        "limit": 5,
        "agent_id": str(AGENT),
        "user_id": "U1",
        "order": "desc",
        "before": 7,
    },
    "erase_for_tenant": {
        "tenant_id": str(TENANT),
        "agent_id": str(AGENT),
        "user_id": "U1",
        "turn_ids": [str(TURN)],
    },
    "list_erasures_for_tenant": {
        "tenant_id": str(TENANT),
        "since": T1.isoformat(),
        "until": T2.isoformat(),
        "limit": 5,
        "order": "desc",
        "before": str(ERASURE),
    },
    "list_audit_for_tenant": {
        "tenant_id": str(TENANT),
        "since": T1.isoformat(),
        "until": T2.isoformat(),
        "limit": 5,
        "agent_id": str(AGENT),
        "user_id": "U1",
        "order": "desc",
        "before": 7,
    },
}

_STORED = StoredTurn(
    id=TURN,
    agent_id=AGENT,
    user_id="U1",
    role="user",
    content="hi",
    conversation_id=None,
    occurred_at=T1,
    created_at=T1,
    metadata={},
)
_HIT = Hit(
    id=TURN, user_id="U1", role="user", content="hi", occurred_at=T1, conversation_id=None, score=1
)
_KEY = ApiKey(
    id=KEY,
    tenant_id=TENANT,
    name=None,
    agent_id=None,
    user_id=None,
    scopes=["read"],
    created_at=T1,
    revoked_at=None,
)
_ERASURE = Erasure(
    id=KEY,
    kind="agent_user",
    turns_erased=3,
    audit_rows_erased=1,
    requested_at=T1,
    completed_at=T1,
    subject_hash="00" * 32,
    key_id=KEY,
)
_AUDIT = AuditEntry(
    id=1,
    at=T1,
    key_id=KEY,
    operation="recall",
    agent_id=AGENT,
    user_id="U1",
    turn_ids=[TURN],
    query=None,
)
ANSWERS: dict[type[Request[Any]], Result] = {
    RememberRequest: Remembered(turns=[_STORED]),
    RecallRequest: Recalled(hits=[_HIT]),
    RecallAcrossUsersRequest: Recalled(hits=[_HIT]),
    HistoryRequest: History(turns=[_STORED]),
    GetTurnRequest: _STORED,
    ListScopesRequest: Scopes(
        scopes=[
            ScopeSummary(
                agent_id=AGENT,
                user_id="U1",
                conversation_id=None,
                turns=2,
                first_occurred_at=T1,
                last_occurred_at=T2,
            )
        ]
    ),
    ContextRequest: Context(recent=[_STORED], recalled=[_HIT], text="t", tokens=1),
    CreateTenantRequest: TenantCreated(
        id=TENANT, name="acme", created_at=T1, api_key_id=KEY, api_key=API_KEY
    ),
    ListTenantsRequest: Tenants(tenants=[Tenant(id=TENANT, name="acme", created_at=T1)]),
    CreateApiKeyRequest: ApiKeyCreated(**_KEY.model_dump(), api_key=API_KEY),
    ListApiKeysRequest: ApiKeys(keys=[_KEY]),
    RevokeApiKeyRequest: ApiKeyRevoked(id=KEY),
    UpdateTenantRequest: Tenant(id=TENANT, name="acme", created_at=T1, retention_days=30),
    EraseRequest: _ERASURE,
    EraseForTenantRequest: _ERASURE,
    ListErasuresRequest: Erasures(erasures=[_ERASURE]),
    ListErasuresForTenantRequest: Erasures(erasures=[_ERASURE]),
    ListAuditRequest: AuditTrail(entries=[_AUDIT]),
    ListAuditForTenantRequest: AuditTrail(entries=[_AUDIT]),
    WhoAmIRequest: Identity(
        tenant_id=TENANT, key_id=KEY, scopes=["read"], agent_id=AGENT, user_id=None
    ),
}


class RecordingEngine:
    """Stands in for ``Engine``: records each request and answers a fixed result."""

    def __init__(self) -> None:
        self.requests: list[Request[Any]] = []
        self.seen: list[int | None] = []  # the consistency token each request carried

    def run(self, principal: Principal, request: Request[Any], seen: int | None = None) -> Result:
        return self.run_tracked(principal, request, seen)[0]

    def run_tracked(
        self, principal: Principal, request: Request[Any], seen: int | None = None
    ) -> tuple[Result, int | None]:
        self.requests.append(request)
        self.seen.append(seen)
        # Writes answer with a position, each later than the last.
        written = type(request) in (RememberRequest, EraseRequest)  # a key's writes
        return ANSWERS[type(request)], WRITTEN_AT + len(self.requests) if written else None


class _Stand:
    """What the HTTP app needs of ``Memory``: its engine and authentication."""

    def __init__(self, engine: RecordingEngine) -> None:
        self.engine = engine

    def authenticate(self, api_key: str) -> Principal | None:
        return Principal.owner(TENANT) if api_key == API_KEY else None


def library(engine: RecordingEngine) -> tuple[Memory, TenantMemory]:
    memory = Memory(cast(Any, None), engine=cast(Any, engine))
    return memory, TenantMemory(cast(Any, engine), Principal.owner(TENANT))


def app_over(engine: RecordingEngine) -> FastAPI:
    return create_app(Settings(), memory=cast(Any, _Stand(engine)), admin_token=ADMIN_TOKEN)


@contextmanager
def http_clients(engine: RecordingEngine) -> Iterator[tuple[Client, AdminClient]]:
    """The sync clients through the app in-process."""
    app = app_over(engine)
    served = TestClient(app)

    def forward(request: httpx.Request) -> httpx.Response:
        answer = served.request(
            request.method, str(request.url), content=request.content, headers=request.headers
        )
        # The test client may answer with another HTTP library's Response class: re-wrap.
        return httpx.Response(
            answer.status_code, headers=list(answer.headers.items()), content=answer.content
        )

    transport = httpx.MockTransport(forward)
    base = "http://testserver"
    with (
        Client(base, API_KEY, transport=transport) as client,
        AdminClient(base, ADMIN_TOKEN, transport=transport) as admin,
    ):
        yield client, admin


@asynccontextmanager
async def async_http_clients(
    engine: RecordingEngine,
) -> AsyncIterator[tuple[AsyncClient, AsyncAdminClient]]:
    """The async clients through the app over ASGI."""
    transport = httpx.ASGITransport(app=app_over(engine))
    base = "http://testserver"
    async with (
        AsyncClient(base, API_KEY, transport=transport) as client,
        AsyncAdminClient(base, ADMIN_TOKEN, transport=transport) as admin,
    ):
        yield client, admin
