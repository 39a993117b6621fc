"""The read audit trail: which key read which turns, recorded in the read's own transaction.

``konstruct_audit_read`` writes the row only when the tenant has ``audit_reads`` on (and keeps
the query text only with ``audit_query_text``), so the policy takes effect with the next read
and costs one statement when off. A read whose audit row cannot be written fails as a whole:
nothing is returned unrecorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from uuid import UUID

from konstruct_memory import tracing
from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.engine.admin import owner_session
from konstruct_memory.engine.erasure import known_cursor
from konstruct_memory.engine.resources import Resources
from konstruct_memory.engine.session import Session
from konstruct_memory.operations import (
    AuditEntry,
    AuditTrail,
    ListAuditForTenantRequest,
    ListAuditRequest,
)
from konstruct_memory.store import lifecycle as store
from konstruct_memory.store.scope import Scope


@dataclass(frozen=True)
class ReadAudit:
    """How a read is recorded: its operation, its query, and turns it already read for the
    same answer (context's recent window, read in an earlier transaction)."""

    operation: str
    query: str | None = None
    shown: tuple[UUID, ...] = ()

    def record(
        self, tx: TenantConnection, session: Session, scope: Scope, turn_ids: Sequence[UUID]
    ) -> None:
        if tx.on_replica:
            # Reads reach a replica only for tenants that do not audit reads
            # (Session.read_transaction), and a standby could not write the row anyway.
            return
        with tracing.stage("write audit"):
            store.record_read(
                tx,
                operation=self.operation,
                key_id=session.principal.key_id,
                agent_id=scope.agent_id,
                user_id=scope.user_id,
                turn_ids=[*self.shown, *turn_ids],
                query=self.query,
                as_of=scope.as_of,
            )


def list_audit(session: Session, request: ListAuditRequest) -> AuditTrail:
    with session.transaction() as tx, known_cursor("an entry of this tenant's audit trail"):
        rows = store.list_audit(
            tx,
            since=request.since,
            until=request.until,
            limit=request.limit,
            agent_id=request.agent_id,
            user_id=request.user_id,
            newest_first=request.order == "desc",
            before=request.before,
        )
    return AuditTrail(entries=[AuditEntry(**asdict(row)) for row in rows])


def list_audit_for_tenant(resources: Resources, request: ListAuditForTenantRequest) -> AuditTrail:
    fields = request.model_dump(exclude={"tenant_id"})
    return list_audit(owner_session(resources, request.tenant_id), ListAuditRequest(**fields))
