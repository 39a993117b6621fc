"""``TenantMemory``: a tenant as one principal sees it, the library's face of the tenant
operations (``methods.TenantMethods``, which declares each one's parameters and docstring).
Each method builds the operation's request model and runs it through the engine, exactly as
the HTTP routes do."""

from __future__ import annotations

from uuid import UUID

from konstruct_memory import consistency
from konstruct_memory.auth.principal import Principal
from konstruct_memory.engine.service import Engine
from konstruct_memory.methods import BlockingFace, TenantMethods
from konstruct_memory.operations.base import R, Request


class TenantMemory(BlockingFace, TenantMethods):
    """Memory as one principal of one tenant sees it: ``Memory.tenant(id)`` (the owner) or
    ``Memory.acting_as(principal)`` (an API key's scopes and bindings)."""

    def __init__(self, engine: Engine, principal: Principal) -> None:
        self._engine = engine
        self.principal = principal
        self._position: str | None = None  # the newest: written here or observed
        self._observed: str | None = None  # the newest observed (written elsewhere)

    @property
    def tenant_id(self) -> UUID | None:
        return self.principal.tenant_id

    @property
    def position(self) -> str | None:
        """The newest write position this object wrote at or was told of (``observe``).
        Reads see those writes, even from a replica. Hand it to another process's
        ``observe`` (or send it as the ``Konstruct-Memory-Position`` header) for its reads to
        see them too."""
        return self._position

    def observe(self, position: str) -> None:
        """Make later reads see the write that answered with ``position`` (through another
        process or host of the service)."""
        consistency.parse_position(position)  # refuses a malformed one, naming the header
        self._observed = consistency.newest(self._observed, position)
        self._position = consistency.newest(self._position, position)

    def _execute(self, request: Request[R]) -> R:
        """Runs ``request`` as this principal, carrying the position observed from elsewhere,
        and keeps the one it wrote at. This process's own writes need no token: it waits for
        them per (agent, user) written (``WritePositions``), finer than one position for the
        whole tenant."""
        seen = consistency.parse_position(self._observed)
        result, committed = self._engine.run_tracked(self.principal, request, seen)
        if committed is not None:
            self._position = consistency.newest(
                self._position, consistency.position_text(committed)
            )
        return result
