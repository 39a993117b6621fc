"""``model switch``: a tenant's turns embedded with another model, its reads flipped to it in one
transaction once every turn has a vector of it, then the old model's vectors removed through
the erasure machinery.

No turn is copied and no id changes: the new vectors go beside the turns (``turn_vectors``,
``store.models``), keyed by the turn's key and the model. The steps, each of which finds what
is left to do, so a stopped switch resumes where it stood and a finished one does nothing:

1. the target is recorded in the tenant's row under the switch's lock, so every write that
   commits after it embeds with both models (``engine.remember``);
2. the turns without a vector of the target are embedded, in batches, oldest first;
3. the target's HNSW index beside the turns is built (once per model, for every tenant);
4. the flip: under the lock (no write in flight), if no turn lacks a vector of the target,
   the tenant's reads use it from this commit on (else step 2 runs again);
5. every other model's vectors of the tenant are removed by ``konstruct_erase_model``, one
   ledger entry of kind ``model`` each, which ``erase replay`` repeats after a restore.

Recall reads one model throughout: the old one until the flip commits, the new one after.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from konstruct_memory.db.tenant import tenant_transaction_on
from konstruct_memory.embed import Embedder
from konstruct_memory.embed.registry import load
from konstruct_memory.engine import erasure
from konstruct_memory.engine.admin import owner_connection, owner_session
from konstruct_memory.engine.resources import Resources
from konstruct_memory.engine.session import Session
from konstruct_memory.errors import Conflict, InvalidInput, KonstructMemoryError
from konstruct_memory.operations import Erasure
from konstruct_memory.store import models as store
from konstruct_memory.store import windows

# Turns embedded per transaction: a batch of the model's, and a short transaction.
BATCH = 256
# The scan starts before any turn (occurred_at, seq).
_START = (datetime(1, 1, 1, tzinfo=UTC), -1)
# A flip that finds turns without a vector sends the switch back to embedding them; writes
# embed with both models from step 1 on, so a second pass finds none (a third is a bug).
_PASSES = 3


class Progress(Protocol):
    """Told how many turns there are to embed, then each batch embedded."""

    def start(self, total: int) -> None: ...

    def advance(self, turns: int) -> None: ...


class NoProgress:
    def start(self, total: int) -> None:
        pass

    def advance(self, turns: int) -> None:
        pass


@dataclass
class SwitchReport:
    """What one run of the switch did."""

    model: str
    embedded: int = 0  # turns embedded by this run
    embedding_seconds: float = 0.0  # the time of step 2, reading and storing included
    flipped: bool = False  # this run flipped the tenant's reads
    removed: list[Erasure] = field(default_factory=list)  # the ledger entries of step 5

    @property
    def turns_per_second(self) -> float:
        return self.embedded / self.embedding_seconds if self.embedding_seconds else 0.0


def target_of(resources: Resources, to: str) -> tuple[str, str | None, Embedder]:
    """The model ``to`` names: the configured model's name, or a local model's directory;
    its name, its directory (None: the configured model) and its embedder."""
    configured = resources.embedder
    if to == configured.model_name:
        return to, None, configured
    path = Path(to).expanduser()
    if not path.is_dir():
        raise InvalidInput(
            "to",
            f"is neither a model directory nor the configured model's name "
            f"({configured.model_name!r})",
        )
    embedder = load(path, resources.settings)
    return embedder.model_name, str(path.resolve()), embedder


def switch(
    resources: Resources,
    tenant_id: UUID,
    to: str,
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> SwitchReport:
    """Switch the tenant's reads to the model ``to`` names (see the module's docstring)."""
    progress = progress or NoProgress()
    session = owner_session(resources, tenant_id)  # NotFound for an unknown tenant
    model, path, embedder = target_of(resources, to)
    report = SwitchReport(model)
    if _start(resources, tenant_id, model, path):
        for _ in range(_PASSES):
            started = time.perf_counter()
            report.embedded += _embed_lacking(session, model, embedder, batch, progress)
            report.embedding_seconds += time.perf_counter() - started
            with owner_connection(resources, autocommit=True) as conn:
                store.ensure_index(conn, model)
            if _flip(resources, tenant_id, model):
                report.flipped = True
                break
        else:
            raise KonstructMemoryError(f"turns kept lacking a vector of {model!r}: not flipped")
    with session.transaction() as tx:
        # A tenant that never switched reads its turns' own vectors: none of them can go.
        held = store.models_held(tx) if store.state(tx).reads_model == model else set()
    for old in sorted(held - {model}):
        report.removed.append(erasure.erase_model(resources, tenant_id, old))
    return report


def _start(resources: Resources, tenant_id: UUID, model: str, path: str | None) -> bool:
    """Record the target unless the tenant reads it already; False if it does (nothing to
    embed or flip). Refused while a switch to another model is unfinished."""
    with (
        owner_connection(resources, autocommit=True) as conn,
        tenant_transaction_on(conn, tenant_id) as tx,
    ):
        store.lock_exclusive(tx)
        held = store.state(tx)
        if held.target_model not in (None, model):
            raise Conflict(
                f"a switch of this tenant to {held.target_model!r} is unfinished: run "
                f"'model switch' to it again to finish it first"
            )
        reads = held.reads_model or resources.embedder.model_name
        if reads == model:
            return False
        if held.target_model is None:
            store.start(tx, model, path)
        return True


def _embed_lacking(
    session: Session, model: str, embedder: Embedder, batch: int, progress: Progress
) -> int:
    """Embed the turns without a vector of ``model``; how many there were."""
    with session.transaction() as tx:
        total = store.lacking(tx, model)
    progress.start(total)
    after, done = _START, 0
    while True:
        with session.transaction() as tx:
            pending = store.to_embed(tx, model, after, batch)
        if not pending:
            return done
        embedded = session.embed_turns([p.content for p in pending], embedder)
        keys = [p.key for p in pending]
        by_turn = embedded.by_text()
        with session.transaction() as tx:
            store.insert_vectors(tx, model, keys, embedded.vectors)
            windows.insert_windows(tx, model, [(keys[i], by_turn[i]) for i in sorted(by_turn)])
        after = pending[-1].position
        done += len(pending)
        progress.advance(len(pending))


def _flip(resources: Resources, tenant_id: UUID, model: str) -> bool:
    """Flip the tenant's reads to ``model`` if no turn lacks a vector of it (no write is in
    flight meanwhile: they wait for the lock, seconds at most); False if some do."""
    with (
        owner_connection(resources, autocommit=True) as conn,
        tenant_transaction_on(conn, tenant_id) as tx,
    ):
        store.lock_exclusive(tx)
        if store.state(tx).reads_model == model:
            return True  # flipped by an earlier run
        if store.lacking(tx, model):
            return False
        return store.flip(tx, model)
