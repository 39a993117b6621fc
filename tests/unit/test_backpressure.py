"""The in-flight bound and the token buckets, without a database: a request over the bound is
answered at once, a bucket refills at its rate and forgets its oldest keys."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from konstruct_memory.api.backpressure import InFlight, InFlightLimit
from konstruct_memory.api.observability import Metrics
from konstruct_memory.api.tenant_rates import TokenBuckets


class Held:
    """An ASGI app whose requests wait until released (a slow recall)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] != "/healthz" and not scope["path"].startswith("/inspector/"):
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Any, path: str) -> tuple[int, dict[bytes, bytes], float]:
    started = time.perf_counter()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "GET", "headers": []}
    await app(scope, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), time.perf_counter() - started


def test_requests_over_the_bound_are_refused_at_once_health_and_pages_are_exempt() -> None:
    async def scenario() -> list[tuple[int, dict[bytes, bytes], float]]:
        held = Held()
        limit = InFlightLimit(held, InFlight(limit=2, queue_wait=0.05, metrics=Metrics()))
        running = [asyncio.create_task(call(limit, "/v1/recall")) for _ in range(2)]
        await asyncio.sleep(0.01)
        refused = await asyncio.gather(*(call(limit, "/v1/recall") for _ in range(5)))
        health = await call(limit, "/healthz")
        # A page load fetches a dozen modules at once: none may be refused.
        pages = await asyncio.gather(*(call(limit, f"/inspector/js/m{i}.js") for i in range(12)))
        held.release.set()
        served = await asyncio.gather(*running)
        after = await call(limit, "/v1/recall")
        return [*refused, health, *served, after, *pages]

    results = asyncio.run(scenario())
    refused, health, served, after = results[:5], results[5], results[6:8], results[8]
    assert all(status == 200 for status, _, _ in results[9:])
    for status, headers, seconds in refused:
        assert status == 503 and headers[b"retry-after"] == b"1"
        assert seconds < 0.5, "answered after the short queue wait, not after the slow ones"
    assert health[0] == 200 and all(s[0] == 200 for s in served) and after[0] == 200


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    buckets = TokenBuckets()
    waits = [buckets.take("tenant", rate=10, burst=3) for _ in range(4)]
    assert waits[:3] == [0, 0, 0] and 0.05 < waits[3] <= 0.1
    time.sleep(0.11)
    assert buckets.take("tenant", rate=10, burst=3) == 0
    assert buckets.peek("other", rate=1, burst=1) == 0, "peeking spends nothing"


def test_buckets_forget_the_least_recently_used_keys() -> None:
    buckets = TokenBuckets(capacity=2)
    for key in ("a", "b", "c"):
        buckets.take(key, rate=0.001, burst=1)
    assert buckets.peek("a", rate=0.001, burst=1) == 0, "forgotten: a full bucket again"
    assert buckets.peek("c", rate=0.001, burst=1) > 0
