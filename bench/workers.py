"""``serve --workers N``: /v1/recall at concurrency 16 with 1 and 2 worker processes, one run.

    python bench/workers.py ../shared/data/locomo-dev.json

Each run starts a fresh service (``served.py``), stores the LoCoMo turns for one user, then
recalls the data set's questions from 16 client threads. The embedder is CPU-bound, so a second
process can use a second core; on a machine of two cores the database and the load generator
take their share too.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from http_load import chat, pct
from served import ADMIN_TOKEN, served

AGENT = "7b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5c"
CONCURRENCY = 16


def measure(
    workers: int, turns: list[str], questions: list[str]
) -> tuple[float, float, float, Counter[int]]:
    """(answered requests/s, p50 ms, p99 ms of those, refusals by status) with ``workers``
    processes."""
    with served(workers) as (base, _):
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        key = httpx.post(f"{base}/v1/tenants", json={"name": "bench"}, headers=admin).json()
        auth = {"Authorization": f"Bearer {key['api_key']}"}
        with httpx.Client(base_url=base, headers=auth, timeout=120) as client:
            for i in range(0, len(turns), 100):
                batch = [
                    {"id": str(uuid.uuid4()), "agent_id": AGENT, "user_id": "U1", "role": "user",
                     "content": text}
                    for text in turns[i : i + 100]
                ]  # fmt: skip
                assert client.post("/v1/turns", json={"turns": batch}).status_code == 201

        def recall(question: str) -> tuple[int, float]:
            with httpx.Client(base_url=base, headers=auth, timeout=60) as c:
                started = time.perf_counter()
                answer = c.post(
                    "/v1/recall", json={"agent_id": AGENT, "user_id": "U1", "query": question}
                )
                return answer.status_code, (time.perf_counter() - started) * 1000

        for question in questions[:16]:
            recall(question)  # warm up every worker's model
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            started = time.perf_counter()
            answers = list(pool.map(recall, questions))
            elapsed = time.perf_counter() - started
    ms = [took for status, took in answers if status == 200]
    refused = Counter(status for status, _ in answers if status != 200)
    return len(ms) / elapsed, statistics.median(ms), pct(ms, 0.99), refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="LoCoMo-format JSON (source of real chat text)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    turns, questions = chat(args.path)
    print(f"{len(turns)} turns stored, {len(questions)} recalls at concurrency {CONCURRENCY}")
    print("workers | answered/s | p50 ms | p99 ms | refused")
    for workers in args.workers:
        rate, p50, p99, refused = measure(workers, turns, questions)
        print(f"{workers} | {rate:.1f} | {p50:.1f} | {p99:.1f} | {dict(refused) or 'none'}")


if __name__ == "__main__":
    main()
