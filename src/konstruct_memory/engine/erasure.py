"""Erasure on request, the ledger that records it, and its replay after a backup restore.

The turns and audit rows of a subject (an agent, a user, or one agent's user) are removed by
``konstruct_erase`` in one transaction with the ledger entry, so an erasure is whole or absent.
The ledger names the subject by an HMAC under the deployment's erasure key, computed here: the
database never holds the key, so a dump of the ledger cannot be matched against guessed ids.
The tenant is part of the HMAC (hash version 2), so the same person erased by two tenants has
two unrelated hashes and no tenant can match its own erasures against another's ledger.
Entries written before (version 1: kind, agent and user only) keep their hash and still replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from konstruct_memory.auth.principal import Principal
from konstruct_memory.db.tenant import TenantConnection, tenant_transaction
from konstruct_memory.engine.admin import owner_connection, owner_session
from konstruct_memory.engine.ledger_file import entry_of, erasure_of
from konstruct_memory.engine.resources import Resources
from konstruct_memory.engine.session import Session, resolved
from konstruct_memory.errors import InvalidInput
from konstruct_memory.operations import (
    EraseForTenantRequest,
    EraseRequest,
    Erasure,
    Erasures,
    ListErasuresForTenantRequest,
    ListErasuresRequest,
)
from konstruct_memory.operations.lifecycle import LedgerEntry
from konstruct_memory.store import lifecycle as store
from konstruct_memory.store import models
from konstruct_memory.store.rows import ErasureRow

# The subject hash of the ledger entries written now (see ``subject_hash``).
SUBJECT_HASH_VERSION = 2


def erase(session: Session, request: EraseRequest) -> Erasure:
    """Remove the subject's turns and read-audit rows, or only the turns named; a repeat finds
    nothing and erases 0."""
    if request.agent_id is None and request.user_id is None and request.turn_ids is None:
        raise InvalidInput("user_id", "name a user_id, an agent_id, or both (or turn_ids)")
    requested_at = datetime.now(UTC)
    key = key_of(session.resources)
    tenant_id = resolved(session.principal.tenant_id)
    turns = request.turn_ids is not None
    subject = subject_hash(key, tenant_id, request.agent_id, request.user_id, turns=turns)
    with session.write_transaction() as tx:  # every later read must see it gone
        row = store.erase(
            tx,
            agent_id=request.agent_id,
            user_id=request.user_id,
            subject=subject,
            subject_version=SUBJECT_HASH_VERSION,
            key_id=session.principal.key_id,
            requested_at=requested_at,
            turn_ids=request.turn_ids,
        )
    erasure = erasure_of(row)
    if session.resources.ledger is not None:
        session.resources.ledger.append([entry_of(tenant_id, erasure)])
    if row.turns_erased or row.audit_rows_erased:
        session.resources.after_removal()
    return erasure


def erase_for_tenant(resources: Resources, request: EraseForTenantRequest) -> Erasure:
    subject = EraseRequest(
        agent_id=request.agent_id, user_id=request.user_id, turn_ids=request.turn_ids
    )
    return erase(owner_session(resources, request.tenant_id), subject)


def erase_model(resources: Resources, tenant_id: UUID, model: str) -> Erasure:
    """Remove every vector of ``model`` the tenant holds (after a switch away from it), with
    one ledger entry of kind ``model``; refused for the model its reads or a switch use."""
    session = Session(resources, Principal.owner(tenant_id))
    subject = model_subject_hash(key_of(resources), tenant_id, model)
    with session.write_transaction() as tx:  # every later read must see them gone
        row = store.erase_model(
            tx, model=model, subject=subject, key_id=None, requested_at=datetime.now(UTC)
        )
    erasure = erasure_of(row)
    if resources.ledger is not None:
        resources.ledger.append([entry_of(tenant_id, erasure)])
    if row.turns_erased:
        resources.after_removal()
    return erasure


def list_erasures(session: Session, request: ListErasuresRequest) -> Erasures:
    with session.transaction() as tx, known_cursor("an erasure of this tenant's ledger"):
        rows = store.list_erasures(
            tx,
            request.since,
            request.until,
            request.limit,
            newest_first=request.order == "desc",
            before=request.before,
        )
    return Erasures(erasures=[erasure_of(row) for row in rows])


def list_erasures_for_tenant(
    resources: Resources, request: ListErasuresForTenantRequest
) -> Erasures:
    page = ListErasuresRequest(**request.model_dump(exclude={"tenant_id"}))
    return list_erasures(owner_session(resources, request.tenant_id), page)


@contextmanager
def known_cursor(what: str) -> Iterator[None]:
    """A ``before`` cursor naming no entry is the caller's mistake: 422 naming the field."""
    try:
        yield
    except store.UnknownCursor as unknown:
        raise InvalidInput("before", f"{unknown.args[0]} is not {what}") from None


def key_of(resources: Resources) -> bytes:
    """The deployment's erasure key, read once per process."""
    return resources.erasure_key


def subject_hash(
    key: bytes,
    tenant_id: UUID,
    agent_id: UUID | None,
    user_id: str | None,
    *,
    turns: bool = False,
) -> bytes:
    """HMAC-SHA256 of the tenant and the subject (hash version 2). The kind is part of it, so
    "agent A" never equals "agent A's user U", nor "turns of agent A". For an erasure of
    chosen turns the subject is the agent and user it was confined to (either may be None):
    a replay finds them again by this hash and erases the listed ids only there."""
    kind = _kind(agent_id, user_id) if not turns else "turns"
    subject = [SUBJECT_HASH_VERSION, str(tenant_id), kind, _text(agent_id), user_id]
    return hmac.new(key, json.dumps(subject).encode(), hashlib.sha256).digest()


def model_subject_hash(key: bytes, tenant_id: UUID, model: str) -> bytes:
    """The subject of an entry of kind ``model``: the tenant and the model (hash version 2).
    The entry names the model as well: a model's name is no personal data."""
    subject = [SUBJECT_HASH_VERSION, str(tenant_id), "model", model]
    return hmac.new(key, json.dumps(subject).encode(), hashlib.sha256).digest()


def subject_hash_v1(
    key: bytes,
    agent_id: UUID | None,
    user_id: str | None,
    turn_ids: Sequence[UUID] | None = None,
) -> bytes:
    """The hash of ledger entries written before version 2: kind, agent and user (and for an
    erasure of chosen turns the ids asked for), without the tenant. Only replay computes it."""
    subject: list[object] = [_kind(agent_id, user_id), _text(agent_id), user_id]
    if turn_ids is not None:
        subject = ["turns", *subject[1:], sorted({str(turn_id) for turn_id in turn_ids})]
    return hmac.new(key, json.dumps(subject).encode(), hashlib.sha256).digest()


def _kind(agent_id: UUID | None, user_id: str | None) -> str:
    return "user" if agent_id is None else "agent" if user_id is None else "agent_user"


def _text(agent_id: UUID | None) -> str | None:
    return str(agent_id) if agent_id else None


# -- after a backup restore ------------------------------------------------------------------


def export_ledger(resources: Resources) -> list[LedgerEntry]:
    """Every tenant's ledger, oldest first: to keep apart from the database's backups."""
    with owner_connection(resources) as conn:
        rows = store.whole_ledger(conn)
    entries = []
    for row in rows:
        tenant_id = row.pop("tenant_id")
        entries.append(entry_of(tenant_id, erasure_of(ErasureRow(**row))))
    return entries


@dataclass(frozen=True)
class ReplayReport:
    entries_replayed: int  # entries missing from the database whose subject was found again
    turns_erased: int
    entries_present: int  # already in the ledger (or replayed before): nothing to do
    entries_unmatched: int  # missing, but no stored turn belongs to their subject


def replay(resources: Resources, entries: Iterable[LedgerEntry]) -> ReplayReport:
    """Re-apply erasures that a restored backup predates.

    Each entry missing from the ledger is matched, by its subject hash, against the subjects
    of the tenant's stored turns; the match is erased again, but only turns stored before the
    original erasure completed (turns stored since are new data). The replay is recorded as a
    new entry pointing at the original (``replay_of``), so replaying twice does nothing more.
    Retention entries are skipped: the next retention run applies the policy again. An entry
    of kind ``model`` removes that model's vectors again if the restored tenant reads another
    model; if its switch had not flipped yet when the backup was taken, the entry is left
    unmatched and running the switch again completes it (and removes the vectors).
    """
    key = key_of(resources)
    with owner_connection(resources) as conn:
        known = store.ledger_ids(conn)
    replayed = turns = present = unmatched = 0
    seen: set[UUID] = set()
    for entry in entries:
        if entry.id in seen:  # a ledger file may hold an entry twice
            continue
        seen.add(entry.id)
        if entry.kind == "retention":
            continue
        if entry.id in known:
            present += 1
            continue
        replay_one = _replay_model if entry.kind == "model" else _replay_one
        erased = replay_one(resources, key, entry)
        if erased is None:
            unmatched += 1
        else:
            replayed += 1
            turns += erased
    if turns:
        resources.after_removal()
    return ReplayReport(replayed, turns, present, unmatched)


def _replay_one(resources: Resources, key: bytes, entry: LedgerEntry) -> int | None:
    wanted = bytes.fromhex(entry.subject_hash or "")
    # An export written before hash versions were recorded holds version 1 entries only.
    version = entry.subject_hash_version or 1
    with tenant_transaction(resources.pool, entry.tenant_id) as tx:
        subject: tuple[UUID | None, str | None] | None
        if entry.turn_ids is not None and version == 1:
            # Ids were unique per tenant then: the listed ids alone name the turns removed.
            subject = (None, None)
        else:
            turns = entry.turn_ids is not None
            subject = _subject_of(tx, key, entry.tenant_id, wanted, version, turns=turns)
        if subject is None:
            return None
        row = store.erase(
            tx,
            agent_id=subject[0],
            user_id=subject[1],
            subject=wanted,
            subject_version=version,
            key_id=entry.key_id,
            requested_at=entry.requested_at,
            stored_before=entry.completed_at,
            replay_of=entry.id,
            turn_ids=entry.turn_ids,
        )
    if resources.ledger is not None:
        resources.ledger.append([entry_of(entry.tenant_id, erasure_of(row))])
    return row.turns_erased


def _replay_model(resources: Resources, key: bytes, entry: LedgerEntry) -> int | None:
    model = entry.embedding_model
    if model is None:
        return None
    with tenant_transaction(resources.pool, entry.tenant_id) as tx:
        held = models.state(tx)
        if held.reads_model is None or model in (held.reads_model, held.target_model):
            return None  # the restored tenant still reads it: its switch runs again first
        row = store.erase_model(
            tx,
            model=model,
            subject=model_subject_hash(key, entry.tenant_id, model),
            key_id=entry.key_id,
            requested_at=entry.requested_at,
            replay_of=entry.id,
        )
    if resources.ledger is not None:
        resources.ledger.append([entry_of(entry.tenant_id, erasure_of(row))])
    return row.turns_erased


def _subject_of(
    tx: TenantConnection, key: bytes, tenant_id: UUID, wanted: bytes, version: int, *, turns: bool
) -> tuple[UUID | None, str | None] | None:
    """The (agent, user) of the stored turns whose subject hash is ``wanted``, if any; for an
    erasure of chosen turns, the agent and user it was confined to (possibly neither)."""
    candidates: set[tuple[UUID | None, str | None]] = {(None, None)} if turns else set()
    for agent_id, user_id in store.subjects(tx):
        candidates |= {(agent_id, None), (None, user_id), (agent_id, user_id)}
    for agent, user in candidates:
        if version == 1:
            found = subject_hash_v1(key, agent, user)
        else:
            found = subject_hash(key, tenant_id, agent, user, turns=turns)
        if hmac.compare_digest(found, wanted):
            return agent, user
    return None
