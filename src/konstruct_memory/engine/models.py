"""A tenant's embedding models as an operation sees them: the one its reads compare with (and
where its vectors are), and every one its writes embed with while a switch runs.

A query is embedded before its transaction opens, with the model this process last saw the
tenant read (``KnownModels``, one small cache per process); the transaction then reads the
tenant's row, and a recall that finds it changed (a switch flipped meanwhile) embeds the query
again before it searches. So a recall compares with one model, the one its transaction sees,
never a mix. A write reads the row under the switch's lock (``store.models``), and embeds any
model it had not embedded with before it stores the turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from konstruct_memory.db.tenant import TenantConnection
from konstruct_memory.embed import Embedder
from konstruct_memory.engine.session import Session
from konstruct_memory.store import models as store
from konstruct_memory.store.models import TenantModels


@dataclass(frozen=True)
class ModelPlan:
    """What the tenant's models mean for one operation."""

    models: TenantModels
    configured: str  # the service's own model: a tenant that never switched reads it

    @property
    def reads(self) -> str:
        """The model recall compares with."""
        return self.models.reads_model or self.configured

    @property
    def beside(self) -> bool:
        """Whether the reads' vectors are beside the turns (the tenant switched once)."""
        return self.models.reads_model is not None

    @property
    def written(self) -> list[str]:
        """Every model a new turn needs a vector of: the reads', and a switch's target."""
        target = self.models.target_model
        return [self.reads] + ([target] if target is not None else [])

    @property
    def beside_written(self) -> list[str]:
        """The models whose vectors of a new turn go beside it (the others: in its row)."""
        return self.written if self.beside else self.written[1:]

    def path_of(self, model: str) -> str | None:
        if model == self.models.reads_model:
            return self.models.reads_path
        if model == self.models.target_model:
            return self.models.target_path
        return None


def cached(session: Session) -> ModelPlan:
    """The plan of the tenant's models as this process last saw them (before a transaction)."""
    known = session.resources.known_models.get(session.tenant_id)
    return ModelPlan(known, session.embedding_model)


def for_read(session: Session, tx: TenantConnection) -> ModelPlan:
    """The tenant's models as the read transaction sees them."""
    return _seen(session, store.state(tx))


def for_write(session: Session, tx: TenantConnection) -> ModelPlan:
    """The tenant's models for a write, read under the switch's lock (held to the commit)."""
    return _seen(session, store.state_for_write(tx))


def embedder_of(session: Session, plan: ModelPlan, model: str) -> Embedder:
    """The embedder of one of the plan's models (loaded on first use)."""
    return session.resources.embedders.get(model, plan.path_of(model))


def _seen(session: Session, models: TenantModels) -> ModelPlan:
    session.resources.known_models.put(session.tenant_id, models)
    return ModelPlan(models, session.embedding_model)
