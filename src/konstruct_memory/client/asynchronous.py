"""``AsyncClient`` and ``AsyncAdminClient``: the operations over HTTP for asyncio.

Their methods are declared once, for the library and both clients, in ``methods``; this
module says only how a request travels: as ``_wire`` encodes it, with the consistency token.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self, TypeVar

import httpx

from konstruct_memory import consistency
from konstruct_memory.client import _wire
from konstruct_memory.methods import AdminMethods, AsyncFace, TenantMethods
from konstruct_memory.operations import Request, Result

R = TypeVar("R", bound=Result)


class _AsyncHttp(_wire.Opened[httpx.AsyncBaseTransport], AsyncFace):
    """The connection both clients share: the service's URL, the credential, the timeout,
    and the consistency token: the newest write position the service answered with, sent on
    every later request, so reads see this client's writes whichever process serves them."""

    def _open(
        self,
        base_url: str,
        token: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None,
        position: str | None,
    ) -> None:
        self._http = httpx.AsyncClient(
            **_wire.connection(base_url, token, timeout), transport=transport
        )
        self.position = consistency.newest(None, position)

    async def _execute(self, request: Request[R]) -> R | None:
        sent = _wire.with_position(_wire.encode(request), self.position)
        try:
            response = await self._http.request(**sent)
        except httpx.TransportError as exc:
            raise _wire.unreachable(exc) from exc
        self.position = consistency.newest(self.position, response.headers.get(consistency.HEADER))
        return _wire.decode(request, response)

    async def run(self, request: Request[R]) -> R:
        """Any request of the contract, and its whole result."""
        return _wire.required(await self._execute(request))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncClient(_wire.KeyCredential[httpx.AsyncBaseTransport], _AsyncHttp, TenantMethods):
    """Memory for the tenant whose API key this is (the server takes the tenant from it).

    Same method names, parameters and errors as the library's ``TenantMemory``; each method is
    a coroutine.
    """


class AsyncAdminClient(_wire.AdminCredential[httpx.AsyncBaseTransport], _AsyncHttp, AdminMethods):
    """Tenant and key administration over HTTP, with the admin token; the library's
    ``Memory`` methods of the same names, as coroutines."""
