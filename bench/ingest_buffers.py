"""Ingest against the size of PostgreSQL's buffer cache, on a set ``ingest_writers.py`` loaded.

    python bench/ingest_buffers.py --sizes 128MB 4GB        # on its default data directory

The HNSW graph of a million turns (m = 32) is about 2 GB; PostgreSQL's default cache
(``shared_buffers``, 128 MB) holds a fraction, so each insert's graph search reads most of its
pages from the operating system's cache, evicting others (and writing the dirty ones). For
each size in turn (the order reversed every round) the server is restarted with it, the graph
and the table are read into the cache (``pg_prewarm``: the state of a server that has been
inserting for a while), and the writers of ``ingest_writers.py`` measure as there. The server
is left with its default at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_writers import Bench, Split, loadavg, table
from scale_data import VectorSource, locomo_texts

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.library import Memory

_PREWARM = "SELECT pg_prewarm(%s::regclass)"


def restart_with(server: EmbeddedServer, size: str | None) -> None:
    with psycopg.connect(server.superuser_url(), autocommit=True) as conn:
        if size is None:
            conn.execute("ALTER SYSTEM RESET shared_buffers")
        else:
            conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(size)))
    server.stop()
    server.ensure_running()


def prewarm(server: EmbeddedServer) -> float:
    started = time.perf_counter()
    with psycopg.connect(server.superuser_url(), dbname="konstruct_memory") as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for relation in ("ix_conv_embed_hnsw", "conversation_embeddings"):
            conn.execute(_PREWARM, [relation])
        shown = conn.execute("SHOW shared_buffers").fetchone()
    print(f"  shared_buffers {shown[0]}; prewarmed in {time.perf_counter() - started:.0f} s")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "locomo", nargs="?", type=Path, default=Path("../shared/data/locomo-dev.json")
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "konstruct-memory-ingest"
    )
    parser.add_argument("--sizes", nargs="+", default=["128MB", "4GB"])
    parser.add_argument("--modes", nargs="+", default=["vectors", "embed"])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    server = EmbeddedServer(args.data_dir)
    texts = locomo_texts(args.locomo)
    drawn_texts, vectors = VectorSource(texts=texts, seed=29).draw(20_000)
    settings = Settings(data_dir=args.data_dir, database_url=None, admin_database_url=None)
    cells: dict[tuple[Any, str, str], list[dict[str, Any]]] = {}
    try:
        for round_ in range(args.rounds):
            for size in args.sizes if round_ % 2 == 0 else args.sizes[::-1]:
                restart_with(server, size)
                prewarm(server)
                split = Split()
                with Memory.open(settings, observer=split) as memory:
                    tenant_id = {t.name: t.id for t in memory.list_tenants()}["ingest"]
                    postmaster = server.postmaster_pid()
                    assert postmaster is not None
                    bench = Bench(memory, split, tenant_id, drawn_texts, vectors, args.batch,
                                  args.seconds, postmaster)  # fmt: skip
                    memory.tenant(tenant_id).remember(bench.turns(0, 0, "warm", vectors=False))
                    for mode in args.modes:
                        figures = bench.measure(mode, args.writers, one_scope=False)
                        cells.setdefault((size, mode, "own"), []).append(figures)
    finally:
        restart_with(server, None)
    rates = {key: statistics.median(r["turns/s"] for r in runs) for key, runs in cells.items()}
    print(f"\n{args.writers} writers, medians of {args.rounds} rounds; load average {loadavg()}")
    print("(the first column is shared_buffers, not writers)")
    table(cells)
    for mode in args.modes:
        first, last = (rates[size, mode, "own"] for size in (args.sizes[0], args.sizes[-1]))
        print(f"{mode}: {args.sizes[-1]} / {args.sizes[0]} = {last / first:.2f}x turns/s")


if __name__ == "__main__":
    main()
