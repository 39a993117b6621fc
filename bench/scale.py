"""Scale benchmark: filtered-search correctness and latency on a multi-tenant data set.

    python bench/scale.py                       # the full set: 1,000,000 turns, 1,000 tenants
    python bench/scale.py --rows 100000 --tenants 100   # a quick run
    python bench/scale.py --skip-load           # re-measure an already loaded set

Loads through the product's bulk path (``remember`` with precomputed vectors, batches of 1000,
inside ``Memory.vector_index_deferred``: the HNSW index is dropped for the load and rebuilt
after), then times further batches with every index in place. For each query shape it reports
the share of queries returning exactly min(k, rows in scope), recall@10 of the product's vector
stage against exact NumPy search over the same scope, and the latency of the product's query,
the minimal hand-written SQL and NumPy (p50/p95/p99, ratios from the same run).
"""

from __future__ import annotations

import argparse
import functools
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import YEAR_START, Scope, VectorSource, layout, turns_for

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.tenant import tenant_transaction
from konstruct_memory.library import Memory
from konstruct_memory.store import search
from konstruct_memory.store.scope import Scope as SearchScope

K = 10
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The scope is (tenant, agent, user or all users, embedding model), as the product's.
MINIMAL_SQL = """
SELECT id FROM conversation_embeddings
WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s AND user_id = %(user_id)s
  AND embedding_model = %(model)s
ORDER BY embedding <=> %(q)s LIMIT 10
"""
MINIMAL_AGENT_SQL = """
SELECT id FROM conversation_embeddings
WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s AND embedding_model = %(model)s
ORDER BY embedding <=> %(q)s LIMIT 10
"""
SCOPE_VECTORS = """
SELECT id, embedding FROM conversation_embeddings
WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s
  AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
"""


def load(memory: Memory, scopes: list[Scope], tenant_ids: dict[int, Any]) -> int:
    """Every scope's turns, in batches of 1000 per tenant (a batch may span users)."""
    source = VectorSource()
    started = last_report = time.perf_counter()
    stored = 0
    by_tenant: dict[int, list[Scope]] = defaultdict(list)
    for scope in scopes:
        by_tenant[scope.tenant].append(scope)
    for tenant_index, tenant_scopes in by_tenant.items():
        tenant = memory.tenant(tenant_ids[tenant_index])
        pending: list[dict[str, object]] = []
        for scope in tenant_scopes:
            for turns in turns_for(scope, source, YEAR_START, 1000):
                pending += turns
                while len(pending) >= 1000:
                    tenant.remember(pending[:1000])
                    stored, pending = stored + 1000, pending[1000:]
        if pending:
            tenant.remember(pending)
            stored += len(pending)
        if time.perf_counter() - last_report > 60:
            last_report = time.perf_counter()
            print(
                f"  loaded {stored} rows, {stored / (last_report - started):.0f} rows/s", flush=True
            )
    return stored


def bulk_load(memory: Memory, scopes: list[Scope], tenant_ids: dict[int, Any]) -> None:
    started = time.perf_counter()
    with memory.vector_index_deferred(maintenance_work_mem="4GB"):
        rows = load(memory, scopes, tenant_ids)
        loaded = time.perf_counter()
    built = time.perf_counter()
    print(
        f"bulk load: {rows} rows in {loaded - started:.0f} s = {rows / (loaded - started):.0f} "
        f"rows/s without HNSW; index build {built - loaded:.0f} s; "
        f"overall {rows / (built - started):.0f} rows/s"
    )


def ingest_in_place(memory: Memory, batches: int = 10) -> None:
    """Batches of 1000 precomputed turns into a new tenant with every index in place."""
    tenant = memory.tenant(memory.create_tenant(f"scale-extra-{time.time_ns()}").id)
    agent = uuid.uuid4()
    texts, vectors = VectorSource(seed=17).draw(batches * 1000)
    rates = []
    for b in range(batches):
        turns = [
            {"agent_id": agent, "user_id": f"U{i % 50}", "role": "user", "content": texts[i],
             "embedding": vectors[i]}
            for i in range(b * 1000, (b + 1) * 1000)
        ]  # fmt: skip
        t = time.perf_counter()
        tenant.remember(turns)
        rates.append(1000 / (time.perf_counter() - t))
    print(
        f"ingest with every index in place (batches of 1000, precomputed vectors): median "
        f"{statistics.median(rates):.0f} rows/s (min {min(rates):.0f}, max {max(rates):.0f})"
    )


def percentiles(ms: list[float]) -> str:
    ms = sorted(ms)

    def pick(p: float) -> float:
        return ms[min(len(ms) - 1, int(p * len(ms)))]

    return f"p50 {statistics.median(ms):6.2f}  p95 {pick(0.95):6.2f}  p99 {pick(0.99):6.2f} ms"


def shapes(scopes: list[Scope], tenant_sizes: dict[int, int]) -> dict[str, list[Scope]]:
    """Sample scopes per query shape: users of small and large tenants, and agent scopes."""
    by_size = sorted(tenant_sizes, key=tenant_sizes.get)  # type: ignore[arg-type]
    large, small = set(by_size[-5:]), set(by_size[len(by_size) // 4 : len(by_size) // 2])
    out: dict[str, list[Scope]] = defaultdict(list)
    for label, tenants in (("large tenant", large), ("small tenant", small)):
        users = sorted((s for s in scopes if s.tenant in tenants), key=lambda s: s.rows)
        out[f"user, smallest ({label})"] = users[:20]
        out[f"user, median ({label})"] = users[len(users) // 2 - 10 : len(users) // 2 + 10]
        out[f"user, largest ({label})"] = users[-20:]
        agents: dict[tuple[int, Any], int] = defaultdict(int)
        for s in users:
            agents[(s.tenant, s.agent)] += s.rows
        ranked = sorted(agents, key=agents.get)  # type: ignore[arg-type]
        out[f"agent, all users ({label})"] = [
            Scope(t, a, "", agents[(t, a)]) for t, a in ranked[-10:] + ranked[:10]
        ]
    return out


@dataclass
class Tally:
    """Per-shape results of one engine (the product's query, or the minimal SQL)."""

    ms: list[float] = field(default_factory=list)
    full: int = 0  # queries that returned exactly min(k, rows in scope)
    recalls: list[float] = field(default_factory=list)

    def add(self, ms: float, got: list[Any], exact: list[Any], in_scope: int) -> None:
        self.ms.append(ms)
        self.full += len(got) == min(K, in_scope)
        self.recalls.append(len(set(got) & set(exact)) / max(1, min(K, in_scope)))

    def summary(self) -> str:
        n = len(self.ms)
        recall = statistics.fmean(self.recalls)
        return f"exactly min(k, n) {self.full / n:6.1%}  recall@10 {recall:.3f}  " + percentiles(
            self.ms
        )


def product_nearest(memory: Memory, tenant_id: Any, scope: SearchScope, q: np.ndarray) -> list[Any]:
    with tenant_transaction(memory.resources.pool, tenant_id) as tx:
        return [i for i, _ in search.nearest(tx, scope, q, K)]


def minimal_nearest(
    raw: psycopg.Connection[Any], params: dict[str, Any], q: np.ndarray
) -> list[Any]:
    sql = MINIMAL_SQL if params["user_id"] else MINIMAL_AGENT_SQL
    with raw.transaction():
        raw.execute("SELECT set_config('app.current_tenant', %s, true)", [str(params["tenant_id"])])
        return [r[0] for r in raw.execute(sql, params | {"q": q, "model": MODEL}).fetchall()]


def measure(
    memory: Memory,
    runtime_url: str,
    shape: str,
    sample: list[Scope],
    tenant_ids: dict[int, Any],
    queries: np.ndarray,
    per_scope: int,
) -> None:
    ours, raw_sql = Tally(), Tally()
    numpy_ms: list[float] = []
    across_users = shape.startswith("agent")
    # The minimal SQL runs on its own connection as the same runtime role, outside the pool.
    with psycopg.connect(runtime_url, autocommit=True) as raw:
        register_vector(raw)
        for n, scope in enumerate(sample):
            tenant_id = tenant_ids[scope.tenant]
            user = None if across_users else scope.user
            params = {"tenant_id": tenant_id, "agent_id": scope.agent, "user_id": user}
            with tenant_transaction(memory.resources.pool, tenant_id) as tx:
                rows = tx.conn.execute(SCOPE_VECTORS, params).fetchall()
            ids = [r["id"] for r in rows]
            matrix = np.vstack([r["embedding"].to_numpy() for r in rows]).astype(np.float32)
            scoped = SearchScope(scope.agent, user, MODEL)

            product = functools.partial(product_nearest, memory, tenant_id, scoped)
            minimal = functools.partial(minimal_nearest, raw, params)
            for j in range(per_scope):
                q = queries[(n * per_scope + j) % len(queries)]
                t = time.perf_counter()
                exact = [ids[i] for i in np.argsort(-(matrix @ q), kind="stable")[:K]]
                numpy_ms.append((time.perf_counter() - t) * 1000)
                # Warm both (the first reader of a cold scope pays its disk reads), then time
                # them in alternating order.
                product(q), minimal(q)
                engines = [(ours, product), (raw_sql, minimal)]
                for tally, run in engines if j % 2 == 0 else engines[::-1]:
                    t = time.perf_counter()
                    got = run(q)
                    tally.add((time.perf_counter() - t) * 1000, got, exact, len(ids))
    sizes = sorted(s.rows for s in sample)
    ratio = statistics.median(ours.ms) / statistics.median(raw_sql.ms)
    print(f"{shape} ({len(ours.ms)} queries, {sizes[0]}-{sizes[-1]} rows per scope)")
    print(f"  ours  {ours.summary()}")
    print(f"  raw   {raw_sql.summary()}   ours/raw p50 {ratio:.2f}")
    print(f"  numpy exact over the scope's vectors: {percentiles(numpy_ms)}")


def explain(
    memory: Memory, shape: str, sample: list[Scope], tenant_ids: dict[int, Any], q: np.ndarray
) -> None:
    """The plans of the product's query and of the minimal SQL for a shape's largest scope."""
    scope = max(sample, key=lambda s: s.rows)
    tenant_id = tenant_ids[scope.tenant]
    user = None if shape.startswith("agent") else scope.user
    minimal = MINIMAL_AGENT_SQL if user is None else MINIMAL_SQL
    params = {
        "tenant_id": tenant_id,
        "agent_id": scope.agent,
        "user_id": user,
        "q": q,
        "model": MODEL,
    }
    with tenant_transaction(memory.resources.pool, tenant_id) as tx:
        ours = search.explain_nearest(tx, SearchScope(scope.agent, user, MODEL), q, K)
        raw = tx.conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + minimal, params).fetchall()
    print(f"  plans for the largest scope ({scope.rows} rows):")
    for label, lines in (("ours", ours), ("raw", [r["QUERY PLAN"] for r in raw])):
        for line in lines:
            line = re.sub(r"'\[[^']*\]'::vector", "$q", line)
            if not line.strip().startswith(("One-Time Filter", "Index Searches", "Planning")):
                print(f"    {label:4s} | {line}")
                label = ""


def footprint(admin_url: str, rows: int) -> None:
    with psycopg.connect(admin_url) as conn:
        sizes = conn.execute("""
            SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c
            WHERE c.relname LIKE 'ix_conv_embed%%' OR c.relname IN
                ('conversation_embeddings', 'conversation_embeddings_pkey')
            ORDER BY 2 DESC""").fetchall()
        total = conn.execute("SELECT pg_total_relation_size('conversation_embeddings')").fetchone()
    per_million = 1_000_000 / max(rows, 1)
    for name, size in sizes:
        per_1m = size * per_million / 2**30
        print(f"  {name:36s} {size / 2**20:9.1f} MiB  ({per_1m:.2f} GiB per 1M rows)")
    assert total is not None
    print(f"  {'total with TOAST and indexes':36s} {total[0] / 2**20:9.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "konstruct-memory-scale"
    )
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--queries-per-scope", type=int, default=3)
    args = parser.parse_args()

    settings = Settings(data_dir=args.data_dir, database_url=None, admin_database_url=None)
    scopes = layout(args.rows, args.tenants)
    tenant_sizes: dict[int, int] = defaultdict(int)
    for s in scopes:
        tenant_sizes[s.tenant] += s.rows
    print(
        f"{args.rows} rows, {len(tenant_sizes)} tenants, {len(scopes)} (tenant, agent, user) "
        f"scopes; largest tenant {max(tenant_sizes.values())} rows"
    )
    with Memory.open(settings) as memory:
        server = EmbeddedServer(args.data_dir)  # started by Memory.open
        existing = {t.name: t.id for t in memory.list_tenants()}
        tenant_ids = {
            i: existing.get(f"scale-{i:04d}") or memory.create_tenant(f"scale-{i:04d}").id
            for i in tenant_sizes
        }
        if not args.skip_load:
            bulk_load(memory, scopes, tenant_ids)
            ingest_in_place(memory)
        queries = VectorSource(noise=0.5, seed=99).draw(64)[1]
        for shape, sample in shapes(scopes, tenant_sizes).items():
            measure(
                memory, server.runtime_url(), shape, sample, tenant_ids, queries,
                args.queries_per_scope,
            )  # fmt: skip
            explain(memory, shape, sample, tenant_ids, queries[0])
        print("footprint:")
        footprint(server.admin_url(), args.rows)


if __name__ == "__main__":
    main()
