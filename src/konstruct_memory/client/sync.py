"""``Client`` and ``AdminClient``: the operations over HTTP, blocking.

The blocking twins of ``AsyncClient`` and ``AsyncAdminClient`` (``asynchronous.py``): the
same methods, declared once in ``methods``, and the same ``_wire``; only the ``httpx`` client
differs.
"""

from __future__ import annotations

from typing import TypeVar

import httpx

from konstruct_memory import consistency
from konstruct_memory.client import _wire
from konstruct_memory.closing import Closing
from konstruct_memory.methods import AdminMethods, BlockingFace, TenantMethods
from konstruct_memory.operations import Request, Result

R = TypeVar("R", bound=Result)


class _Http(_wire.Opened[httpx.BaseTransport], BlockingFace, Closing):
    """What both blocking clients share (as ``_AsyncHttp`` does for the asynchronous ones)."""

    def _open(
        self,
        base_url: str,
        token: str,
        timeout: float,
        transport: httpx.BaseTransport | None,
        position: str | None,
    ) -> None:
        opened = _wire.connection(base_url, token, timeout)
        self._http = httpx.Client(**opened, transport=transport)
        # The newest write position the service answered with, sent on every later request.
        self.position = consistency.newest(None, position)

    def _execute(self, request: Request[R]) -> R | None:
        sent = _wire.with_position(_wire.encode(request), self.position)
        try:
            response = self._http.request(**sent)
        except httpx.TransportError as exc:
            raise _wire.unreachable(exc) from exc
        self.position = consistency.newest(self.position, response.headers.get(consistency.HEADER))
        return _wire.decode(request, response)

    def run(self, request: Request[R]) -> R:
        """Any request of the contract, and its whole result."""
        return _wire.required(self._execute(request))

    def close(self) -> None:
        self._http.close()


class Client(_wire.KeyCredential[httpx.BaseTransport], _Http, TenantMethods):
    """Memory for the tenant whose API key this is (the server takes the tenant from it).

    Same method names, parameters and errors as the library's ``TenantMemory``.
    """


class AdminClient(_wire.AdminCredential[httpx.BaseTransport], _Http, AdminMethods):
    """Tenant and key administration over HTTP, with the admin token; the library's ``Memory``
    methods of the same names."""
