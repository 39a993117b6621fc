"""``/healthz`` and ``/metrics``: for load balancers and Prometheus, no credential."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from konstruct_memory.api import deps
from konstruct_memory.api.errors import ErrorOut
from konstruct_memory.errors import Unavailable

router = APIRouter(tags=["service"])


@router.get("/healthz", responses={503: {"model": ErrorOut}})
def healthz(request: Request) -> dict[str, str]:
    """200 within a second if the database answers; else 503 saying why (and, for the
    embedded server under ``serve``, what its supervisor is doing)."""
    supervisor = getattr(request.app.state, "supervisor", None)
    try:
        deps.memory(request).check_health()
    except Unavailable as exc:
        if supervisor is not None:
            raise Unavailable(f"{exc}; embedded server: {supervisor.status}") from None
        raise
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def prometheus(request: Request) -> Response:
    body, content_type = request.app.state.metrics.exposition()
    return Response(content=body, media_type=content_type)
