"""Heavy scopes: one agent with 1,000,000 turns, one of its users with 200,000.

    python bench/heavy_scopes.py               # load (~15 minutes on 2 cores), then measure
    python bench/heavy_scopes.py --skip-load   # re-measure the loaded set

The set is one tenant, one agent: a user with 200,000 turns and 800 users with 1,000 each,
real MiniLM vectors of varied sentences plus noise (bench/scale_data.py), loaded through the
product's bulk path with the HNSW index built afterwards. For each scope it times the product's
vector stage (``store.search.nearest``: exact up to EXACT_SCOPE_ROWS turns, HNSW with iterative
scan above) against the exact scan it replaces (the same statement with the gate lifted), both
DB-side on one connection, and scores recall@10 against exact NumPy search over the scope's
vectors. It then times the other statements a recall runs on the same scopes (keywords, the
mixed-model check), and a whole library recall, so the figures say what a heavy scope costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import percentiles
from scale_data import YEAR_START, Scope, VectorSource, turns_for

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.tenant import tenant_transaction
from konstruct_memory.library import Memory
from konstruct_memory.store import search
from konstruct_memory.store.scope import Scope as SearchScope

K = 10
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
AGENT = uuid.UUID("5eed0000-0000-4000-8000-000000000001")
HEAVY_USER, HEAVY_ROWS = "U-heavy", 200_000
OTHER_USERS, OTHER_ROWS = 800, 1_000
SCOPE_VECTORS = """
SELECT id, embedding FROM conversation_embeddings
WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s
  AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
"""


def scopes() -> list[Scope]:
    users = [Scope(0, AGENT, HEAVY_USER, HEAVY_ROWS)]
    users += [Scope(0, AGENT, f"U{u:04d}", OTHER_ROWS) for u in range(OTHER_USERS)]
    return users


def load(memory: Memory, tenant_id: Any) -> None:
    tenant = memory.tenant(tenant_id)
    source = VectorSource()
    started = time.perf_counter()
    stored = 0
    with memory.vector_index_deferred(maintenance_work_mem="4GB"):
        for scope in scopes():
            for batch in turns_for(scope, source, YEAR_START, 1000):
                tenant.remember(batch)
                stored += len(batch)
                if stored % 100_000 == 0:
                    rate = stored / (time.perf_counter() - started)
                    print(f"  loaded {stored} rows, {rate:.0f} rows/s", flush=True)
        loaded = time.perf_counter()
    print(
        f"load: {stored} rows in {loaded - started:.0f} s; HNSW build "
        f"{time.perf_counter() - loaded:.0f} s",
        flush=True,
    )


def timed(run: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    ms, answer = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        answer = run()
        ms.append((time.perf_counter() - t) * 1000)
    return ms, answer


def vector_stage(
    memory: Memory, tenant_id: Any, label: str, user: str | None, queries: Any
) -> None:
    """The product's nearest vs. the exact scan it replaces, and recall@10 vs. NumPy."""
    params = {"tenant_id": tenant_id, "agent_id": AGENT, "user_id": user}
    with tenant_transaction(memory.resources.pool, tenant_id) as tx:
        rows = tx.conn.execute(SCOPE_VECTORS, params).fetchall()
    ids = [r["id"] for r in rows]
    matrix = np.vstack([r["embedding"].to_numpy() for r in rows]).astype(np.float32)
    scope = SearchScope(AGENT, user, MODEL)
    ours_ms: list[float] = []
    exact_ms: list[float] = []
    recalls: list[float] = []
    full = 0
    with tenant_transaction(memory.resources.pool, tenant_id) as tx:
        for n, q in enumerate(queries):
            exact = [ids[i] for i in np.argsort(-(matrix @ q), kind="stable")[:K]]

            def ours(q: Any = q) -> list[Any]:
                return [i for i, _ in search.nearest(tx, scope, q, K)]

            def scan(q: Any = q) -> list[Any]:
                previous, search.EXACT_SCOPE_ROWS = search.EXACT_SCOPE_ROWS, 10**9
                try:
                    return [i for i, _ in search.nearest(tx, scope, q, K)]
                finally:
                    search.EXACT_SCOPE_ROWS = previous

            ours()  # warm
            runs = [(ours_ms, ours), (exact_ms, scan)]
            if n < 10:  # the exact scan is slow on a heavy scope: ten queries time it
                for sink, run in runs if n % 2 == 0 else runs[::-1]:
                    ms, got = timed(run, 1)
                    sink += ms
                    if run is ours:
                        answer = got
            else:
                ms, answer = timed(ours, 1)
                ours_ms += ms
            full += len(answer) == min(K, len(ids))
            recalls.append(len(set(answer) & set(exact)) / min(K, len(ids)))
    print(f"{label} ({len(ids)} turns, {len(queries)} queries)")
    print(
        f"  ours   {percentiles(ours_ms)}  recall@10 {statistics.fmean(recalls):.3f} "
        f"(min {min(recalls):.1f}); exactly min(k, n) {full / len(queries):.0%}"
    )
    ratio = statistics.median(exact_ms) / statistics.median(ours_ms)
    print(f"  exact  {percentiles(exact_ms)}  exact/ours p50 {ratio:.1f}x")


def other_statements(memory: Memory, tenant_id: Any, user: str, query: str) -> None:
    """DB-side time of a recall's other statements on the scope."""
    scope = SearchScope(AGENT, user, MODEL)
    with tenant_transaction(memory.resources.pool, tenant_id) as tx:
        keyword_ms, _ = timed(lambda: search.keyword_matches(tx, scope, query, 100), 5)
        model_ms, _ = timed(lambda: search.other_model(tx, scope), 5)
    print(f"  keyword stage         {percentiles(keyword_ms)}")
    print(f"  mixed-model check     {percentiles(model_ms)}")


def whole_recall(memory: Memory, tenant_id: Any, user: str, query: str) -> None:
    tenant = memory.tenant(tenant_id)
    ms, _ = timed(lambda: tenant.recall(AGENT, user, query, k=K), 10)
    print(f"  library recall (model included) {percentiles(ms)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "konstruct-memory-heavy"
    )
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, database_url=None, admin_database_url=None)
    with Memory.open(settings) as memory:
        server = EmbeddedServer(args.data_dir)
        existing = {t.name: t.id for t in memory.list_tenants()}
        tenant_id = existing.get("heavy") or memory.create_tenant("heavy").id
        if not args.skip_load:
            load(memory, tenant_id)
        with psycopg.connect(server.admin_url(), autocommit=True) as conn:
            conn.execute("ANALYZE conversation_embeddings")
        queries = VectorSource(noise=0.5, seed=99).draw(args.queries)[1]
        vector_stage(memory, tenant_id, "small user", "U0000", queries)
        vector_stage(memory, tenant_id, "heavy user", HEAVY_USER, queries)
        vector_stage(memory, tenant_id, "heavy agent, across users", None, queries)
        query = "My manager asked about the Q3 budget yesterday"
        for user in ("U0000", HEAVY_USER):
            print(f"{user}: the rest of a recall")
            other_statements(memory, tenant_id, user, query)
            whole_recall(memory, tenant_id, user, query)


if __name__ == "__main__":
    main()
