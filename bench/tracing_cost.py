"""What tracing costs a recall over HTTP: p50 with tracing off, on sampling every trace, and on
sampling one in ten, in one run.

    python bench/tracing_cost.py [--turns 600] [--queries 200] [--rounds 2]

Stores ``--turns`` synthetic turns of one user through ``serve`` (embedded PostgreSQL on a
throwaway data directory, the default model), then times ``POST /v1/recall`` (k=10, one
keep-alive client, one request at a time) under ``serve`` started three ways on that same
database: no OTLP endpoint; ``OTEL_EXPORTER_OTLP_ENDPOINT`` set with
``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` and ``OTEL_TRACES_SAMPLER_ARG`` 1.0; and 0.1.
The endpoint is a sink in this process that answers every POST /v1/traces with 200, so the
export (batching, protobuf encoding, the HTTP POST) is part of what is measured. Each round
runs the three configurations in a rotated order; the medians are over every round's
requests, and the ratios are to tracing off.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from served import ADMIN_TOKEN, running

AGENT = "6d1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5c"
WORDS = [
    "harbour",
    "lantern",
    "orchard",
    "violin",
    "glacier",
    "meadow",
    "copper",
    "falcon",
    "river",
    "ledger",
    "canyon",
    "pepper",
    "marble",
    "thunder",
    "saddle",
    "quartz",
    "willow",
    "compass",
    "beacon",
    "ember",
    "tundra",
    "walnut",
    "harvest",
    "prism",
    "signal",
    "anchor",
    "blossom",
    "cinder",
    "garnet",
    "hollow",
    "island",
    "juniper",
    "kettle",
    "lagoon",
    "mosaic",
    "nectar",
]
CONFIGURATIONS: dict[str, dict[str, str]] = {
    "off": {},
    "on, sampler 1.0": {"OTEL_TRACES_SAMPLER_ARG": "1.0"},
    "on, sampler 0.1": {"OTEL_TRACES_SAMPLER_ARG": "0.1"},
}


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that accepts and drops every export."""

    exports = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).exports += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def store(base: str, turns: int, rng: random.Random) -> str:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = httpx.post(f"{base}/v1/tenants", json={"name": "tracing-cost"}, headers=admin)
    key: str = created.raise_for_status().json()["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    for start in range(0, turns, 50):
        batch = [
            {"agent_id": AGENT, "user_id": "u1", "role": "user", "content": sentence(rng, 14)}
            for _ in range(min(50, turns - start))
        ]
        answer = httpx.post(f"{base}/v1/turns", json={"turns": batch}, headers=auth, timeout=120)
        answer.raise_for_status()
    return key


def time_recalls(base: str, key: str, queries: list[str]) -> list[float]:
    timings = []
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
        for query in queries[:20]:  # warm-up: the model's first calls, the pool's connections
            client.post("/v1/recall", json={"agent_id": AGENT, "user_id": "u1", "query": query})
        for query in queries:
            body = {"agent_id": AGENT, "user_id": "u1", "query": query, "k": 10}
            started = time.perf_counter()
            answer = client.post("/v1/recall", json=body)
            timings.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise RuntimeError(f"recall failed: {answer.status_code}")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=600)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(7)  # noqa: S311 - synthetic text, the same each run
    queries = [sentence(rng, 5) for _ in range(args.queries)]
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    data_dir = Path(tempfile.mkdtemp(prefix="km-bench-"))
    base_env = {
        n: v
        for n, v in os.environ.items()
        if not n.startswith("OTEL_") and n != "KONSTRUCT_MEMORY_DATABASE_URL"
    }
    base_env |= {
        "KONSTRUCT_MEMORY_DATA_DIR": str(data_dir),
        "KONSTRUCT_MEMORY_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    traced_env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    }
    timings: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    try:
        with running(base_env) as (base, _):
            key = store(base, args.turns, rng)
        names = list(CONFIGURATIONS)
        for round_ in range(args.rounds):
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                extra = CONFIGURATIONS[name]
                env = base_env | (traced_env | extra if extra else {})
                with running(env) as (base, _):
                    timings[name] += time_recalls(base, key, queries)
    finally:
        subprocess.run(
            [sys.executable, "-m", "konstruct_memory", "server", "stop"],
            env=base_env,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(data_dir, ignore_errors=True)
        sink.shutdown()
    off = statistics.median(timings["off"])
    print(f"recall over HTTP, {args.turns} turns, {len(timings['off'])} requests per row")
    print(f"{'tracing':<18}{'p50 ms':>9}{'p95 ms':>9}{'p50 / off':>11}")
    for name, ms in timings.items():
        p50 = statistics.median(ms)
        p95 = statistics.quantiles(ms, n=20)[-1]
        print(f"{name:<18}{p50:>9.2f}{p95:>9.2f}{p50 / off:>11.3f}")
    print(f"exports received by the sink: {Sink.exports}")


if __name__ == "__main__":
    main()
