"""The data lifecycle: erasure on request, the erasure ledger, the read audit trail, and a
tenant's retention and audit policy."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    BeforeValidator,
    Field,
    PositiveInt,
    StrictBool,
    ValidationInfo,
    field_validator,
)

from konstruct_memory.operations.admin import Tenant
from konstruct_memory.operations.base import Request, Result
from konstruct_memory.operations.fields import (
    Listed,
    Timestamp,
    UserId,
    Uuid,
    fail,
    limit_of,
)

MAX_ERASED_TURNS = 1000
MAX_RETENTION_DAYS = 36500
MAX_RATE = 100_000

ErasureKind = Literal["agent", "user", "agent_user", "turns", "retention", "model"]
RetentionDays = Annotated[int, limit_of(1, MAX_RETENTION_DAYS), Field(ge=1, le=MAX_RETENTION_DAYS)]


def _rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(f"must be a number of requests per second, above 0 and at most {MAX_RATE}")
    if not 0 < value <= MAX_RATE:
        fail(f"must be above 0 and at most {MAX_RATE}, got {value}")
    return float(value)


RatePerSecond = Annotated[float, BeforeValidator(_rate)]


class Unchanged(Enum):
    """A policy field left as it is (``None`` is a value: keep turns forever)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


class Erasure(Result):
    """One entry of the erasure ledger: what was removed, when, on whose request.

    The subject is kept only as ``subject_hash``, an HMAC-SHA256 of (tenant, kind, agent, user)
    under the deployment's erasure key: the ledger holds no personal data, yet a repeated
    request for the same subject in the same tenant has the same hash, and two tenants erasing
    the same person have unrelated hashes. ``subject_hash_version`` says how it was computed
    (1: without the tenant, the entries of earlier releases). An erasure of chosen turns also
    lists the ids it removed (random or caller-chosen ids, which the tombstones of erased turns
    hold anyway).
    """

    id: UUID
    kind: ErasureKind = Field(
        description="'agent', 'user', 'agent_user' or 'turns' (on request), 'retention', or "
        "'model' (the vectors of a model the tenant switched away from)"
    )
    turns_erased: int
    audit_rows_erased: int
    requested_at: datetime
    completed_at: datetime
    subject_hash: str | None = Field(default=None, description="Hex; null for retention")
    subject_hash_version: int | None = Field(
        default=None,
        description="2: the tenant is part of the hash; 1: an earlier release's, without it. "
        "Null for retention; an exported entry without it is version 1",
    )
    cutoff: datetime | None = Field(
        default=None, description="Retention: turns that occurred before this were removed"
    )
    key_id: UUID | None = Field(default=None, description="The API key that asked, if any")
    replay_of: UUID | None = Field(
        default=None, description="Set when re-applied after a backup restore"
    )
    turn_ids: list[UUID] | None = Field(default=None, description="'turns': the ids it removed")
    embedding_model: str | None = Field(
        default=None, description="'model': the model whose vectors were removed"
    )


class LedgerEntry(Erasure):
    """A ledger entry with its tenant: the line format of ``erase export`` and ``erase replay``."""

    tenant_id: UUID


class EraseRequest(Request[Erasure]):
    """Erase every stored turn of an agent, a user, or one agent's user, and their read-audit
    rows. At least one of the two (a key's binding counts). Erasing again erases 0.

    With ``turn_ids``, only those turns go (within the agent and user if given: a bound key's
    binding always applies); the read-audit rows stay, since they hold ids and no content."""

    agent_id: Uuid | None = Field(
        default=None, description="Only this agent's turns (a bound key: its agent)"
    )
    user_id: UserId | None = Field(
        default=None, description="Only this user's turns (a bound key: its user)"
    )
    turn_ids: list[Uuid] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ERASED_TURNS,
        description=f"Only these turns (1 to {MAX_ERASED_TURNS} ids)",
    )


class EraseForTenantRequest(EraseRequest):
    tenant_id: Uuid


class Erasures(Result):
    erasures: list[Erasure] = Field(description="Oldest first, or newest first (order=desc)")


def _after_since(cls: type, until: datetime | None, info: ValidationInfo) -> datetime | None:
    since = info.data.get("since")
    if until is not None and since is not None and until <= since:
        fail("must be later than since")
    return until


ListingOrder = Literal["asc", "desc"]
ORDER = "asc: oldest first; desc: newest first"


# The next page of a newest-first listing starts below the last entry of this one.
NEXT_PAGE = "Only entries older than this one (its id): the next page of a newest-first listing"


class ListErasuresRequest(Request[Erasures]):
    """The tenant's erasure ledger (requests and retention runs), oldest first (or newest
    first with ``order=desc``)."""

    since: Timestamp | None = Field(default=None, description="Inclusive")
    until: Timestamp | None = Field(default=None, description="Exclusive")
    limit: Listed = 100
    order: ListingOrder = Field(default="asc", description=ORDER)
    before: Uuid | None = Field(default=None, description=NEXT_PAGE)

    _until = field_validator("until")(_after_since)


class ListErasuresForTenantRequest(ListErasuresRequest):
    tenant_id: Uuid


class AuditEntry(Result):
    """One audited read: who (key), what (operation, scope), which turns came back, when."""

    id: int
    at: datetime
    key_id: UUID | None
    operation: str
    agent_id: UUID
    user_id: str | None = Field(description="Null for recall across users")
    turn_ids: list[UUID]
    query: str | None = Field(description="Only if the tenant records query text")
    as_of: datetime | None = Field(
        default=None, description="The moment the read looked back to, when it asked for one"
    )


class AuditTrail(Result):
    entries: list[AuditEntry] = Field(description="Oldest first, or newest first (order=desc)")


class ListAuditRequest(Request[AuditTrail]):
    """Audited reads of the tenant (recorded while its ``audit_reads`` is on), oldest first
    (or newest first with ``order=desc``). A key bound to an agent or user sees only the reads
    of its binding."""

    since: Timestamp | None = Field(default=None, description="Inclusive")
    until: Timestamp | None = Field(default=None, description="Exclusive")
    limit: Listed = 100
    agent_id: Uuid | None = None
    user_id: UserId | None = None
    order: ListingOrder = Field(default="asc", description=ORDER)
    before: PositiveInt | None = Field(default=None, description=NEXT_PAGE)

    _until = field_validator("until")(_after_since)


class ListAuditForTenantRequest(ListAuditRequest):
    tenant_id: Uuid


class TenantChanges(Request[Tenant]):
    """Fields left out stay as they are; ``retention_days: null`` keeps turns forever."""

    retention_days: RetentionDays | None = Field(
        default=None, description="Remove turns older than this many days; null: keep all"
    )
    audit_reads: StrictBool | None = Field(
        default=None, description="Record every recall, history and context call"
    )
    audit_query_text: StrictBool | None = Field(
        default=None, description="Also record the query text of audited reads"
    )
    rate_limit_per_s: RatePerSecond | None = Field(
        default=None,
        description="Requests per second the tenant's keys may make (429 beyond); null: none",
    )


class UpdateTenantRequest(TenantChanges):
    """Only the fields present change; ``"retention_days": null`` keeps turns forever."""

    tenant_id: Uuid


def changes_of(
    tenant_id: object,
    retention_days: int | Unchanged | None,
    audit_reads: bool | None,
    audit_query_text: bool | None,
    rate_limit_per_s: float | Unchanged | None = UNCHANGED,
) -> dict[str, object]:
    """The fields of an ``UpdateTenantRequest`` from a face's arguments: ``retention_days`` and
    ``rate_limit_per_s`` travel even as None (keep forever, no limit) unless left UNCHANGED;
    the flags only when given."""
    fields: dict[str, object] = {"tenant_id": tenant_id}
    if retention_days is not UNCHANGED:
        fields["retention_days"] = retention_days
    if rate_limit_per_s is not UNCHANGED:
        fields["rate_limit_per_s"] = rate_limit_per_s
    if audit_reads is not None:
        fields["audit_reads"] = audit_reads
    if audit_query_text is not None:
        fields["audit_query_text"] = audit_query_text
    return fields
