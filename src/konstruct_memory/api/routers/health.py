"""``/healthz`` and ``/metrics``: for load balancers and Prometheus, no credential."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from konstruct_memory.api import deps
from konstruct_memory.api.errors import ErrorOut

router = APIRouter(tags=["service"])


@router.get("/healthz", responses={503: {"model": ErrorOut}})
def healthz(request: Request) -> dict[str, str]:
    deps.memory(request).check_health()
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def prometheus(request: Request) -> Response:
    body, content_type = request.app.state.metrics.exposition()
    return Response(content=body, media_type=content_type)
