"""What overlapping a recall's keyword stage with its query embedding buys, in one run.

    python bench/recall_overlap.py ../shared/data/locomo-dev.json

A recall runs its keyword statement on a second pooled connection while the query is being
embedded. This times the library's recall on the LoCoMo questions both ways, alternating per
query: as shipped, and with the keyword stage run in line before the embedding (an executor
that runs what it is given at once). Same code path otherwise, same data, same process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from retrieval_quality import AGENT, ingest

from konstruct_memory.config import Settings
from konstruct_memory.library import Memory

P = ParamSpec("P")
T = TypeVar("T")


class InLine(Executor):
    """Runs each submitted call immediately, in the caller's thread: no overlap."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="LoCoMo-format JSON")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "konstruct-memory-bench"
    )
    args = parser.parse_args()
    samples: list[dict[str, Any]] = json.loads(args.path.read_text())
    settings = Settings(data_dir=args.data_dir, database_url=None, admin_database_url=None)
    with Memory.open(settings) as memory:
        scoped, _ = ingest(memory, samples)
        questions = [
            (sample["sample_id"], qa["question"]) for sample in samples for qa in sample["qa"]
        ][: args.queries]
        # A second face over the same resources, its executor running calls in line.
        in_line = Memory(replace(memory.resources, background=InLine()))
        faces = {
            "overlapped": scoped,
            "in line": {user: in_line.tenant(t.tenant_id or "") for user, t in scoped.items()},
        }
        timings: dict[str, list[float]] = {"overlapped": [], "in line": []}
        for n, (user, question) in enumerate(questions):
            order = ["overlapped", "in line"]
            for label in order if n % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                faces[label][user].recall(AGENT, user, question, k=10)
                timings[label].append((time.perf_counter() - started) * 1000)
    over, line = (statistics.median(timings[k]) for k in ("overlapped", "in line"))
    print(f"{len(questions)} recalls each, k=10, alternating order")
    print(f"keyword stage overlapped with the embedding: median {over:.1f} ms")
    print(f"keyword stage in line, before the embedding: median {line:.1f} ms")
    print(f"overlapped / in line: {over / line:.2f}")


if __name__ == "__main__":
    main()
