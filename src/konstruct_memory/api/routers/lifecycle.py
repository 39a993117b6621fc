"""Erasure, the erasure ledger and the read audit trail (tenant keys and the admin token), and
a tenant's retention and audit policy (``PATCH /v1/tenants/{tenant_id}``, admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from konstruct_memory.api.deps import AdminPrincipal, EngineDep, KeyPrincipal, route_options
from konstruct_memory.operations import (
    BY_NAME,
    AuditTrail,
    EraseForTenantRequest,
    EraseRequest,
    Erasure,
    Erasures,
    ListAuditForTenantRequest,
    ListAuditRequest,
    ListErasuresForTenantRequest,
    ListErasuresRequest,
    Tenant,
    TenantChanges,
    UpdateTenantRequest,
    build,
)

router = APIRouter(tags=["data lifecycle"])
Query = dict[str, Any]


@router.api_route(**route_options(BY_NAME["erase"]))
def erase(body: EraseRequest, principal: KeyPrincipal, engine: EngineDep) -> Erasure:
    return engine.run(principal, body)


def window(since: str | None = None, until: str | None = None, limit: int = 100) -> Query:
    """The query string of a listing: a time window and a page size."""
    return {"since": since, "until": until, "limit": limit}


def audit_query(
    window: Annotated[Query, Depends(window)],
    agent_id: str | None = None,
    user_id: str | None = None,
) -> Query:
    """The audit trail's query string: the window, and optionally one agent or user."""
    return {**window, "agent_id": agent_id, "user_id": user_id}


# A query string has no types: the integer is decoded here, every rule is the contract's.
Window = Annotated[Query, Depends(window)]
AuditQuery = Annotated[Query, Depends(audit_query)]


@router.api_route(**route_options(BY_NAME["list_erasures"]))
def list_erasures(principal: KeyPrincipal, engine: EngineDep, query: Window) -> Erasures:
    return engine.run(principal, build(ListErasuresRequest, **query))


@router.api_route(**route_options(BY_NAME["list_audit"]))
def list_audit(principal: KeyPrincipal, engine: EngineDep, query: AuditQuery) -> AuditTrail:
    return engine.run(principal, build(ListAuditRequest, **query))


@router.api_route(**route_options(BY_NAME["update_tenant"]))
def update_tenant(
    tenant_id: str, body: TenantChanges, principal: AdminPrincipal, engine: EngineDep
) -> Tenant:
    """Only the fields present change; ``"retention_days": null`` keeps turns forever."""
    changes = body.model_dump(exclude_unset=True)
    return engine.run(principal, build(UpdateTenantRequest, tenant_id=tenant_id, **changes))


@router.api_route(**route_options(BY_NAME["erase_for_tenant"]))
def erase_for_tenant(
    tenant_id: str, body: EraseRequest, principal: AdminPrincipal, engine: EngineDep
) -> Erasure:
    subject = body.model_dump(exclude_none=True)
    return engine.run(principal, build(EraseForTenantRequest, tenant_id=tenant_id, **subject))


@router.api_route(**route_options(BY_NAME["list_erasures_for_tenant"]))
def list_erasures_for_tenant(
    tenant_id: str, principal: AdminPrincipal, engine: EngineDep, query: Window
) -> Erasures:
    request = build(ListErasuresForTenantRequest, tenant_id=tenant_id, **query)
    return engine.run(principal, request)


@router.api_route(**route_options(BY_NAME["list_audit_for_tenant"]))
def list_audit_for_tenant(
    tenant_id: str, principal: AdminPrincipal, engine: EngineDep, query: AuditQuery
) -> AuditTrail:
    return engine.run(principal, build(ListAuditForTenantRequest, tenant_id=tenant_id, **query))
