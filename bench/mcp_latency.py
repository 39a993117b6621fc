"""MCP ``recall`` next to REST ``/v1/recall`` on the same service, same key, same questions.

    python bench/mcp_latency.py ../shared/data/locomo-dev.json

Starts ``konstruct-memory serve`` (``served.py``), stores one LoCoMo conversation through
REST with an agent- and user-bound key, then times each question both ways in alternating
order: REST with one keep-alive HTTP client, MCP over Streamable HTTP with one SDK session
(each tool call is one POST to /mcp). Prints p50 and p95 of each and their difference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client as McpClient
from mcp.client.streamable_http import streamable_http_client
from served import ADMIN_TOKEN, served

AGENT = "7b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b"


def pct(ms: list[float], p: float) -> float:
    ordered = sorted(ms)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def conversation(path: Path) -> tuple[list[str], list[str]]:
    sample: dict[str, Any] = json.loads(path.read_text())[0]
    conv, turns, n = sample["conversation"], [], 1
    while f"session_{n}" in conv:
        turns += [f"{t['speaker']}: {t['text']}" for t in conv[f"session_{n}"]]
        n += 1
    return turns, [qa["question"] for qa in sample["qa"]]


async def measure(base: str, key: str, questions: list[str]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"REST": [], "MCP": []}
    auth = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=base, headers=auth, timeout=60) as rest,
        httpx2.AsyncClient(headers=auth, timeout=60) as http,
        McpClient(streamable_http_client(f"{base}/mcp", http_client=http)) as mcp,
    ):

        async def by_rest(question: str) -> None:
            answer = await rest.post("/v1/recall", json={"query": question, "k": 10})
            if answer.status_code != 200 or len(answer.json()["hits"]) != 10:
                raise RuntimeError(f"REST recall failed: {answer.status_code}")

        async def by_mcp(question: str) -> None:
            answer = await mcp.call_tool("recall", {"query": question, "k": 10})
            if answer.is_error or len(answer.structured_content["hits"]) != 10:
                raise RuntimeError("MCP recall failed")

        faces = [("REST", by_rest), ("MCP", by_mcp)]
        for question in questions[:10]:  # warm both
            for _, run in faces:
                await run(question)
        for n, question in enumerate(questions):
            for label, run in faces if n % 2 == 0 else faces[::-1]:
                started = time.perf_counter()
                await run(question)
                timings[label].append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="LoCoMo-format JSON")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    turns, questions = conversation(args.path)
    with served() as (base, _):
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        tenant = httpx.post(f"{base}/v1/tenants", json={"name": "mcp"}, headers=admin).json()
        key = httpx.post(
            f"{base}/v1/tenants/{tenant['id']}/api-keys",
            json={"agent_id": AGENT, "user_id": "U1"},
            headers=admin,
        ).json()["api_key"]
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300
        ) as client:
            for i in range(0, len(turns), 100):
                body = {"turns": [{"role": "user", "content": t} for t in turns[i : i + 100]]}
                client.post("/v1/turns", json=body).raise_for_status()
        asked = (questions * 2)[: args.queries]
        timings = anyio.run(measure, base, key, asked)
    print(f"{len(turns)} turns stored; {len(asked)} recalls each way, k=10, alternating order")
    for label, ms in timings.items():
        print(f"{label:4} recall: p50 {statistics.median(ms):.1f} ms, p95 {pct(ms, 0.95):.1f} ms")
    rest, mcp = (statistics.median(timings[k]) for k in ("REST", "MCP"))
    print(f"MCP - REST at p50: {mcp - rest:+.1f} ms ({mcp / rest:.2f}x)")


if __name__ == "__main__":
    main()
