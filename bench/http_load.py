"""End-to-end HTTP figures: ingest through POST /v1/turns against the bare embedder on the same
texts, and /v1/recall latency (query embedding included) at concurrency 1 and 8.

    python bench/http_load.py ../shared/data/locomo-dev.json

Starts ``konstruct-memory serve`` as a separate process (``served.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from served import ADMIN_TOKEN, served

from konstruct_memory.embed.local import LocalEmbedder

AGENT = "7b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b"


def chat(path: Path) -> tuple[list[str], list[str]]:
    turns, questions = [], []
    for sample in json.loads(path.read_text()):
        conv, n = sample["conversation"], 1
        while f"session_{n}" in conv:
            turns += [f"{t['speaker']}: {t['text']}" for t in conv[f"session_{n}"]]
            n += 1
        questions += [qa["question"] for qa in sample["qa"]]
    return turns, questions


def pct(ms: list[float], p: float) -> float:
    ms = sorted(ms)
    return ms[min(len(ms) - 1, int(p * len(ms)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="LoCoMo-format JSON (source of real chat text)")
    parser.add_argument("--batch", type=int, default=100, help="turns per POST /v1/turns")
    args = parser.parse_args()
    turns, questions = chat(args.path)

    embedder = LocalEmbedder()
    embedder.embed(turns[:32])
    started = time.perf_counter()
    embedder.embed(turns)
    bare = len(turns) / (time.perf_counter() - started)
    del embedder

    with served() as (base, pid):
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        key = httpx.post(f"{base}/v1/tenants", json={"name": "bench"}, headers=admin).json()
        auth = {"Authorization": f"Bearer {key['api_key']}"}

        started = time.perf_counter()
        with httpx.Client(base_url=base, headers=auth, timeout=120) as client:
            for i in range(0, len(turns), args.batch):
                body = {
                    "turns": [
                        {
                            "id": str(uuid.uuid4()),
                            "agent_id": AGENT,
                            "user_id": "U1",
                            "role": "user",
                            "content": text,
                        }
                        for text in turns[i : i + args.batch]
                    ]
                }
                assert client.post("/v1/turns", json=body).status_code == 201
        ingest = len(turns) / (time.perf_counter() - started)

        def recall(question: str) -> float:
            with httpx.Client(base_url=base, headers=auth, timeout=60) as c:
                t = time.perf_counter()
                response = c.post(
                    "/v1/recall",
                    json={"agent_id": AGENT, "user_id": "U1", "query": question, "k": 10},
                )
                assert response.status_code == 200 and len(response.json()["hits"]) == 10
                return (time.perf_counter() - t) * 1000

        for q in questions[:10]:
            recall(q)  # warm up
        single = [recall(q) for q in questions[:200]]
        with ThreadPoolExecutor(8) as pool:
            started = time.perf_counter()
            eight = list(pool.map(recall, questions[:400]))
            throughput = len(eight) / (time.perf_counter() - started)
        rss = _peak_rss_mib(pid)

    print(f"{len(turns)} real chat turns; {len(questions)} questions as queries")
    print(f"bare embedder (same texts, this process): {bare:.0f} turns/s")
    print(
        f"POST /v1/turns, batches of {args.batch}, embedding on the server: {ingest:.0f} turns/s "
        f"= {ingest / bare:.2f} x bare embedder"
    )
    print(
        f"/v1/recall k=10, concurrency 1: p50 {statistics.median(single):.1f} ms, "
        f"p99 {pct(single, 0.99):.1f} ms"
    )
    print(
        f"/v1/recall k=10, concurrency 8: p50 {statistics.median(eight):.1f} ms, "
        f"p99 {pct(eight, 0.99):.1f} ms, {throughput:.0f} requests/s"
    )
    print(f"service peak RSS: {rss:.0f} MiB (PostgreSQL processes not included)")


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
