"""``/healthz`` and ``/metrics``: for load balancers and Prometheus, no credential."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response

from konstruct_memory.api import deps
from konstruct_memory.api.errors import ErrorOut
from konstruct_memory.errors import Unavailable

router = APIRouter(tags=["service"])


@router.get("/healthz", responses={503: {"model": ErrorOut}})
def healthz(request: Request) -> dict[str, Any]:
    """200 within a second if the database answers, with each read replica's state and lag;
    else 503 saying why (what the embedded server's supervisor is doing under ``serve``, and
    which replicas still serve reads)."""
    memory = deps.memory(request)
    supervisor = memory.resources.supervisor
    replicas = memory.resources.replicas
    states = [asdict(state) for state in replicas.states()] if replicas is not None else None
    try:
        memory.check_health()
    except Unavailable as exc:
        reason = str(exc)
        if supervisor is not None:
            reason += f"; embedded server: {supervisor.status}"
        if states:
            serving = [s["name"] for s in states if s["up"]]
            reason += f"; reads are served by replicas: {', '.join(serving) or 'none'}"
        raise Unavailable(reason) from None
    answer: dict[str, Any] = {"status": "ok"}
    if states is not None:
        answer["replicas"] = [
            {k: v for k, v in s.items() if k in ("name", "up", "lag_s", "problem")} for s in states
        ]
    return answer


@router.get("/metrics", response_class=Response)
def prometheus(request: Request) -> Response:
    body, content_type = request.app.state.metrics.exposition()
    return Response(content=body, media_type=content_type)
