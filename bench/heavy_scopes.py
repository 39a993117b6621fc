"""Heavy scopes: one agent with 1,000,000 turns, one of its users with 200,000.

    python bench/heavy_scopes.py               # load (~5 minutes on 2 cores), then measure
    python bench/heavy_scopes.py --skip-load   # re-measure the loaded set
    python bench/heavy_scopes.py --skip-load --compare-graph 16 64   # another HNSW graph

The set is one tenant, one agent: a user with 200,000 turns and 800 users with 1,000 each,
real MiniLM vectors of varied sentences plus noise (bench/scale_data.py), loaded through the
product's bulk path with the HNSW index built afterwards. For each scope it times the product's
vector stage (``store.search.nearest``: exact up to EXACT_SCOPE_ROWS turns, HNSW with iterative
scan above) against the exact scan it replaces (the same statement with the gate lifted), both
DB-side on one connection, and scores recall@10 against exact NumPy search over the scope's
vectors. It then times the other statements a recall runs on the same scopes (keywords, the
mixed-model check), a whole library recall with each stage's time, and the footprint per million
turns (the capacity model in BENCHMARKS.md is derived from these figures). The keyword stage
and whole recalls run the previous keyword stage (the scope's most recent 5,000 turns) and the
product's (postings, migration 018) alternately, in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import footprint, percentiles
from scale_data import (
    YEAR_START,
    Scope,
    VectorSource,
    locomo_questions,
    locomo_texts,
    turns_for,
)

from konstruct_memory import tracing
from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.tenant import TenantConnection, tenant_transaction
from konstruct_memory.library import Memory
from konstruct_memory.store import keywords, search
from konstruct_memory.store.scope import Scope as SearchScope
from konstruct_memory.store.vector_index import NAME

K = 10
P = ParamSpec("P")
T = TypeVar("T")
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


def load(memory: Memory, tenant_id: Any, texts: list[str]) -> None:
    tenant = memory.tenant(tenant_id)
    source = VectorSource(texts=texts)
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


# The keyword stage as it was before the postings (migration 018): the scope's most recent
# 5,000 turns read and tested (row-level security leaves the GIN index unused), the weights
# counted within them. Kept to measure against, in the same run.
WINDOW = 5_000
WINDOWED_KEYWORDS = sql.SQL(
    """
    WITH searched AS MATERIALIZED (
        SELECT id, user_id, content_tsv FROM conversation_embeddings WHERE {where}
        ORDER BY occurred_at DESC, seq DESC LIMIT %(window)s
    ), terms AS MATERIALIZED (
        SELECT DISTINCT t.lexeme, to_tsquery('simple', quote_literal(t.lexeme)) AS q
        FROM unnest(to_tsvector('english', %(query)s)) AS t(lexeme, positions, weights)
    ), matches AS MATERIALIZED (
        SELECT id, user_id, content_tsv FROM searched
        WHERE content_tsv @@ (
            SELECT to_tsquery('simple', string_agg(quote_literal(lexeme), ' | ')) FROM terms
        )
    ), total AS (
        SELECT count(*)::float8 AS n FROM searched
    ), weights AS MATERIALIZED (
        SELECT terms.lexeme, terms.q,
               ln(1 + (total.n - df.n + 0.5) / (df.n + 0.5)) AS idf
        FROM terms CROSS JOIN total
        CROSS JOIN LATERAL (
            SELECT count(*)::float8 AS n FROM matches WHERE matches.content_tsv @@ terms.q
        ) AS df
    )
    SELECT hit.id, hit.user_id, hit.score, every.lexemes, every.idfs
    FROM (
        SELECT array_agg(lexeme ORDER BY lexeme) AS lexemes, array_agg(idf ORDER BY lexeme) AS idfs
        FROM weights
    ) AS every
    LEFT JOIN LATERAL (
        SELECT matches.id, matches.user_id,
               sum(weights.idf) / (SELECT sum(idf) FROM weights) AS score
        FROM matches JOIN weights ON matches.content_tsv @@ weights.q
        GROUP BY matches.id, matches.user_id
        ORDER BY score DESC, matches.id, matches.user_id
        LIMIT %(limit)s
    ) AS hit ON true
    ORDER BY hit.score DESC, hit.id, hit.user_id
    """
)
BEYOND_WINDOW = sql.SQL(
    """
    SELECT count(*) > %(window)s AS beyond FROM (
        SELECT 1 FROM conversation_embeddings WHERE {where} LIMIT %(window)s + 1
    ) AS scope_turns
    """
)


def windowed_keywords(
    tx: TenantConnection,
    scope: SearchScope,
    query: str,
    limit: int,
    bounds: keywords.KeywordBounds | None = None,
) -> keywords.KeywordMatches:
    """The previous keyword stage; a scope beyond its window answers ``pruned=[]``, so that
    recall scores the vector candidates by its weights, as it did then."""
    where, params = scope.where(tx)
    params |= {"query": query, "limit": limit, "window": WINDOW}
    conn = tx.conn
    with conn.pipeline():
        found = conn.execute(WINDOWED_KEYWORDS.format(where=where), params)
        beyond = conn.execute(BEYOND_WINDOW.format(where=where), params)
    rows, counted = found.fetchall(), beyond.fetchone()
    matches = [((r["id"], r["user_id"]), float(r["score"])) for r in rows if r["id"] is not None]
    weights = dict(zip(rows[0]["lexemes"] or [], rows[0]["idfs"] or [], strict=True))
    pruned: list[str] | None = [] if counted and counted["beyond"] else None
    return keywords.KeywordMatches(matches, weights, pruned)


class StageClock(tracing.NullStages):
    """``tracing.Stages`` that times each stage of the recall in progress (one at a time)."""

    enabled = True

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.ms[name] = self.ms.get(name, 0.0) + elapsed

    def stage(self, name: str) -> AbstractContextManager[None]:
        return self._timed(name)


def keyword_stage(
    memory: Memory, tenant_id: Any, label: str, user: str | None, texts: list[str]
) -> None:
    """The keyword stage through the postings against the windowed one (alternating which
    runs first), DB-side on one connection; how many of the top 10 keyword matches they share."""
    scope = SearchScope(AGENT, user, MODEL)
    tuning = memory.resources.tuning
    limit = tuning.keyword_candidates
    bounds = keywords.KeywordBounds(
        tuning.keyword_exact_turns, tuning.keyword_postings, tuning.keyword_common_share
    )
    before_ms: list[float] = []
    after_ms: list[float] = []
    shared: list[float] = []
    pruned: list[int] = []
    with tenant_transaction(memory.resources.pool, tenant_id) as tx:
        for n, text in enumerate(texts):

            def postings(text: str = text) -> keywords.KeywordMatches:
                return keywords.keyword_matches(tx, scope, text, limit, bounds)

            def windowed(text: str = text) -> keywords.KeywordMatches:
                return windowed_keywords(tx, scope, text, limit)

            runs = [(after_ms, postings), (before_ms, windowed)]
            got: dict[Any, keywords.KeywordMatches] = {}
            for sink, run in runs if n % 2 == 0 else runs[::-1]:
                ms, got[run] = timed(run, 1)
                sink += ms
            ours = {ref for ref, _ in got[postings].matches[:K]}
            theirs = {ref for ref, _ in got[windowed].matches[:K]}
            if theirs:
                shared.append(len(ours & theirs) / len(theirs))
            pruned.append(len(got[postings].pruned or []))
    ratio = statistics.median(before_ms) / statistics.median(after_ms)
    print(f"  {label}: keyword stage, DB-side ({len(texts)} queries)")
    print(f"    before {percentiles(before_ms)}")
    print(f"    after  {percentiles(after_ms)}  before/after p50 {ratio:.1f}x")
    print(
        f"    top 10 keyword matches shared with before: {statistics.fmean(shared or [0]):.2f}; "
        f"lexemes pruned per query: mean {statistics.fmean(pruned):.1f}, max {max(pruned)}"
    )


def whole_recall(
    memory: Memory, tenant_id: Any, label: str, user: str | None, texts: list[str]
) -> None:
    """Library recall (query embedding included) through the postings and with the windowed
    keyword stage, alternating; each stage's time; how many of the top 10 the two share."""
    tenant = memory.tenant(tenant_id)

    def recall(text: str) -> list[Any]:
        if user is None:
            return [h.id for h in tenant.recall_across_users(AGENT, text, k=K)]
        return [h.id for h in tenant.recall(AGENT, user, text, k=K)]

    def windowed(text: str) -> list[Any]:
        postings, keywords.keyword_matches = keywords.keyword_matches, windowed_keywords
        try:
            return recall(text)
        finally:
            keywords.keyword_matches = postings

    recall(texts[0])  # warm
    clock = StageClock()
    previous = tracing.use(clock)
    before_ms: list[float] = []
    after_ms: list[float] = []
    stages: dict[Any, list[dict[str, float]]] = {recall: [], windowed: []}
    shared: list[float] = []
    try:
        for n, text in enumerate(texts):
            runs = [(after_ms, recall), (before_ms, windowed)]
            got: dict[Any, list[Any]] = {}
            for sink, run in runs if n % 2 == 0 else runs[::-1]:

                def once(run: Callable[[str], list[Any]] = run, text: str = text) -> list[Any]:
                    return run(text)

                clock.ms = {}
                ms, got[run] = timed(once, 1)
                sink += ms
                stages[run].append(clock.ms)
            shared.append(len(set(got[recall]) & set(got[windowed])) / max(1, len(got[recall])))
    finally:
        tracing.use(previous)
    ratio = statistics.median(before_ms) / statistics.median(after_ms)
    print(f"  {label}: library recall, query embedding included ({len(texts)} queries)")
    print(f"    before {percentiles(before_ms)}")
    print(f"    after  {percentiles(after_ms)}  before/after p50 {ratio:.2f}x")
    print(f"    top 10 shared with before: {statistics.fmean(shared):.2f}")
    names = sorted({name for timing in stages[recall] + stages[windowed] for name in timing})
    for name in names:
        line = []
        for tag, run in (("before", windowed), ("after", recall)):
            values = [timing.get(name, 0.0) for timing in stages[run]]
            line.append(f"{tag} {percentiles(values)}")
        print(f"    stage {name:18s} " + "  |  ".join(line))


def mixed_model_check(memory: Memory, tenant_id: Any, user: str) -> None:
    scope = SearchScope(AGENT, user, MODEL)
    with tenant_transaction(memory.resources.pool, tenant_id) as tx:
        model_ms, _ = timed(lambda: search.other_model(tx, scope), 5)
    print(f"  {user}: mixed-model check {percentiles(model_ms)}")


def postings_footprint(admin_url: str, rows: int) -> None:
    """The keyword postings' rows and size, per million turns."""
    with psycopg.connect(admin_url) as conn:
        found = conn.execute(
            "SELECT reltuples::bigint, pg_relation_size('keyword_postings'),"
            " pg_relation_size('keyword_postings_pkey') FROM pg_class"
            " WHERE oid = 'keyword_postings'::regclass"
        ).fetchone()
    assert found is not None
    postings, heap, key = found
    per_million = 1_000_000 / max(rows, 1)
    print(
        f"  keyword_postings: {postings} rows ({postings / max(rows, 1):.1f} per turn); heap "
        f"{heap / 2**20:.0f} MiB, key {key / 2**20:.0f} MiB "
        f"({(heap + key) * per_million / 2**30:.2f} GiB per 1M turns)"
    )


def compare_graph(admin_url: str, m: int, ef_construction: int, queries: Any) -> None:
    """The product's graph against another (m, ef_construction), built beside it: recall@10,
    search latency and insert speed with each index alone (each in a rolled-back transaction
    that drops the other). The other index is dropped at the end: left in place, the planner
    could pick it for the product's own searches."""
    other = f"ix_bench_m{m}_ef{ef_construction}"
    with psycopg.connect(admin_url, autocommit=True, row_factory=dict_row) as conn:
        register_vector(conn)
        conn.execute("SET maintenance_work_mem = '4GB'")
        started = time.perf_counter()
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {other} ON conversation_embeddings USING hnsw "
            f"(embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef_construction})"
        )
        print(f"built {other} in {time.perf_counter() - started:.0f} s (if it was missing)")
        heavy = conn.execute("SELECT id FROM tenants WHERE name = 'heavy'").fetchone()
        assert heavy is not None, "the heavy tenant is not loaded"
        tenant_id = heavy["id"]
        conn.execute("SELECT set_config('app.current_tenant', %s, false)", [str(tenant_id)])
        texts, vectors = VectorSource(seed=17).draw(3000)
        for user in (HEAVY_USER, None):
            params = {"tenant_id": tenant_id, "agent_id": AGENT, "user_id": user}
            rows = conn.execute(SCOPE_VECTORS, params).fetchall()
            ids = [r["id"] for r in rows]
            matrix = np.vstack([r["embedding"].to_numpy() for r in rows]).astype(np.float32)
            exact = [set(ids[i] for i in np.argsort(-(matrix @ q))[:K]) for q in queries]
            for kept, dropped in ((NAME, other), (other, NAME)):
                with conn.transaction(force_rollback=True):
                    conn.execute(f"DROP INDEX {dropped}")
                    conn.execute(
                        "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), "
                        "set_config('hnsw.ef_search', '400', true), "
                        "set_config('enable_sort', 'off', true)"
                    )
                    recalls, ms = [], []
                    for q, truth in zip(queries, exact, strict=True):
                        t = time.perf_counter()
                        got = conn.execute(GRAPH_SEARCH, params | {"q": q, "m": MODEL}).fetchall()
                        ms.append((time.perf_counter() - t) * 1000)
                        recalls.append(len({r["id"] for r in got} & truth) / K)
                    rates = []
                    if user is None:  # inserts: three batches of 1,000 with this index alone
                        for b in range(3):
                            batch = [
                                (tenant_id, AGENT, "U-insert", texts[i], vectors[i])
                                for i in range(b * 1000, (b + 1) * 1000)
                            ]
                            t = time.perf_counter()
                            with conn.cursor() as cur:
                                cur.executemany(GRAPH_INSERT, batch)
                            rates.append(1000 / (time.perf_counter() - t))
                    inserts = f"  inserts {statistics.median(rates):.0f} rows/s" if rates else ""
                    print(
                        f"  {user or 'agent, across users':26s} {kept:26s} recall@10 "
                        f"{statistics.fmean(recalls):.3f} (min {min(recalls):.1f})  "
                        f"{percentiles(ms)}{inserts}",
                        flush=True,
                    )
        conn.execute(f"DROP INDEX {other}")


GRAPH_SEARCH = """
SELECT id FROM conversation_embeddings
WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s AND embedding_model = %(m)s
  AND (%(user_id)s::text IS NULL OR user_id = %(user_id)s)
ORDER BY embedding <=> %(q)s LIMIT 10
"""
GRAPH_INSERT = """
INSERT INTO conversation_embeddings
    (tenant_id, agent_id, user_id, role, content, embedding, embedding_model)
VALUES (%s, %s, %s, 'user', %s, %s, 'bench')
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "konstruct-memory-heavy"
    )
    parser.add_argument(
        "locomo",
        nargs="?",
        type=Path,
        default=Path("../shared/data/locomo-dev.json"),
        help="LoCoMo-format file: its turns are the texts, its questions the queries",
    )
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument(
        "--keyword-queries",
        type=int,
        default=20,
        help="queries that time the keyword stage and a whole recall (slow on heavy scopes)",
    )
    parser.add_argument(
        "--compare-graph",
        nargs=2,
        type=int,
        metavar=("M", "EF_CONSTRUCTION"),
        help="also compare the product's HNSW graph with one built with these parameters",
    )
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, database_url=None, admin_database_url=None)
    with Memory.open(settings) as memory:
        server = EmbeddedServer(args.data_dir)
        existing = {t.name: t.id for t in memory.list_tenants()}
        tenant_id = existing.get("heavy") or memory.create_tenant("heavy").id
        if not args.skip_load:
            load(memory, tenant_id, locomo_texts(args.locomo))
        with psycopg.connect(server.admin_url(), autocommit=True) as conn:
            conn.execute("ANALYZE conversation_embeddings")
            # The postings' visibility map: their counts are index-only scans.
            conn.execute("VACUUM ANALYZE keyword_postings")
        # The vector stage is scored on noisier draws of the stored turns (another seed), as a
        # nearest-neighbour benchmark; the keyword stage and whole recalls ask the questions.
        noisier = VectorSource(texts=locomo_texts(args.locomo), noise=0.5, seed=99)
        queries = noisier.draw(args.queries)[1]
        questions = locomo_questions(args.locomo)
        texts = questions[:: max(1, len(questions) // args.keyword_queries)]
        vector_stage(memory, tenant_id, "small user", "U0000", queries)
        vector_stage(memory, tenant_id, "heavy user", HEAVY_USER, queries)
        vector_stage(memory, tenant_id, "heavy agent, across users", None, queries)
        print("the rest of a recall, on the same queries' texts:")
        for small_or_heavy in ("U0000", HEAVY_USER):
            mixed_model_check(memory, tenant_id, small_or_heavy)
        keyword_texts = texts[: args.keyword_queries]
        for label, user in (
            ("small user", "U0000"),
            ("heavy user", HEAVY_USER),
            ("heavy agent, across users", None),
        ):
            keyword_stage(memory, tenant_id, label, user, keyword_texts)
            whole_recall(memory, tenant_id, label, user, keyword_texts)
        print("footprint:")
        footprint(server.admin_url(), HEAVY_ROWS + OTHER_USERS * OTHER_ROWS)
        postings_footprint(server.admin_url(), HEAVY_ROWS + OTHER_USERS * OTHER_ROWS)
        if args.compare_graph:
            print(f"the product's graph against m, ef_construction = {args.compare_graph}:")
            m, ef_construction = args.compare_graph
            compare_graph(server.admin_url(), m, ef_construction, queries)


if __name__ == "__main__":
    main()
