"""What a tenant's rate limit costs per request: GET /v1/whoami (authentication and nothing
else, so the check's share is as large as it gets) and GET /v1/history (one read of the turns)
for a tenant without a limit and for one with a limit it never reaches, at concurrency 1 and
16 (one tenant's requests queueing on its bucket), then one tenant far over a limit of 20/s
(how many of its refusals were answered without asking the database).

    python bench/rate_limit_cost.py

Starts ``konstruct-memory serve`` as a separate process (``served.py``), one worker. Run it
with another source tree on PYTHONPATH to compare with the in-process buckets of that tree.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from served import ADMIN_TOKEN, served

AGENT = str(uuid.uuid4())
NEVER_REACHED = 100_000  # requests/s: the highest limit a tenant may have


def pct(ms: list[float], p: float) -> float:
    ms = sorted(ms)
    return ms[min(len(ms) - 1, int(p * len(ms)))]


def load(
    base: str, key: str, path: str, params: dict[str, str], concurrency: int, requests: int
) -> tuple[list[float], float, dict[int, int]]:
    """Latencies (ms), requests per second and the count of each status."""
    per_thread = requests // concurrency
    statuses: Counter[int] = Counter()

    def run(_: int) -> list[float]:
        ms, seen = [], Counter[int]()
        with httpx.Client(base_url=base, timeout=30) as client:
            headers = {"Authorization": f"Bearer {key}"}
            for _ in range(per_thread):
                started = time.perf_counter()
                answer = client.get(path, params=params, headers=headers)
                ms.append((time.perf_counter() - started) * 1000)
                seen[answer.status_code] += 1
        statuses.update(seen)  # once per thread, from its own counts
        return ms

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = [m for ms in pool.map(run, range(concurrency)) for m in ms]
    return latencies, len(latencies) / (time.perf_counter() - started), dict(statuses)


def tenant(base: str, name: str, rate: float | None) -> tuple[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    made = httpx.post(f"{base}/v1/tenants", json={"name": name}, headers=admin).json()
    if rate is not None:
        httpx.patch(
            f"{base}/v1/tenants/{made['id']}", json={"rate_limit_per_s": rate}, headers=admin
        ).raise_for_status()
    key = made["api_key"]
    turns = [
        {"agent_id": AGENT, "user_id": "U1", "role": "user", "content": f"turn {i} of {name}"}
        for i in range(20)
    ]
    httpx.post(
        f"{base}/v1/turns",
        json={"turns": turns},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    ).raise_for_status()
    return made["id"], key


def rate_checks(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics").text
    return {
        m[1]: float(m[2])
        for m in re.finditer(r'konstruct_memory_rate_checks_total\{checked="(\w+)"\} (\S+)', text)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3200, help="per measurement")
    args = parser.parse_args()
    history = {"agent_id": AGENT, "user_id": "U1", "limit": "10"}
    with served() as (base, _):
        tenants = {"no limit": tenant(base, "free", None)[1]}
        tenants[f"limit {NEVER_REACHED}/s"] = tenant(base, "limited", NEVER_REACHED)[1]
        for path, params in (("/v1/whoami", {}), ("/v1/history", history)):
            for key in tenants.values():  # warm: connections, code paths, the bucket's row
                load(base, key, path, params, 16, 320)
            for concurrency in (1, 16):
                for name, key in tenants.items():
                    latencies, per_s, statuses = load(
                        base, key, path, params, concurrency, args.requests
                    )
                    print(
                        f"{path:12} c={concurrency:<2} {name:18} p50 {pct(latencies, 0.5):6.2f} ms"
                        f"  p99 {pct(latencies, 0.99):6.2f} ms  {per_s:7.0f} req/s  "
                        f"mean {statistics.mean(latencies):6.2f} ms  statuses {statuses}"
                    )
        over = tenant(base, "over", 20)[1]
        before = rate_checks(base)
        latencies, per_s, statuses = load(base, over, "/v1/whoami", {}, 16, args.requests)
        after = rate_checks(base)
        asked = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        print(
            f"over a limit of 20/s, c=16: {statuses} in {len(latencies) / per_s:.1f} s, "
            f"p50 {pct(latencies, 0.5):.2f} ms, {per_s:.0f} req/s; limit checked: {asked}"
        )


if __name__ == "__main__":
    main()
