"""Scope listing: one tenant with 1,000,000 turns in 10,000 scopes, listed from the summaries
(migration 015) and by the grouping of every turn it replaced, and what keeping the summaries
costs an insert.

    python bench/scope_listing.py                  # load (~4 minutes on 2 cores), then measure
    python bench/scope_listing.py --skip-load      # measure the loaded set again
    python bench/scope_listing.py --rows 100000 --data-dir /tmp/km-scopes-100k   # a quick run

The tenant has 10 agents, each with 500 users, each with two conversations (one without a
conversation id): 10,000 (agent, user, conversation) scopes of equal size. Turns carry random
unit vectors and are loaded through the product's bulk path (``remember`` batches of 1,000
with precomputed vectors, the HNSW index dropped: the listing does not use it). Each listing
shape is timed on one runtime connection inside a tenant transaction, as the engine runs it:
the product's statement (``store.turns.scopes``) and the grouping it replaced, alternately;
then the whole library call. The insert cost of the summaries' trigger is measured on a second
tenant: batches of 1,000 turns with the trigger enabled and disabled, alternately in one run
(the tenant is deleted afterwards, so the summaries stay exact).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import percentiles

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.tenant import TenantConnection, tenant_transaction
from konstruct_memory.library import Memory
from konstruct_memory.store import turns
from konstruct_memory.store.scope import equal_to

AGENTS, USERS_PER_AGENT, CONVERSATIONS = 10, 500, (None, "c1")
SCOPES = AGENTS * USERS_PER_AGENT * len(CONVERSATIONS)
BATCH = 1000
START = datetime(2025, 1, 1, tzinfo=UTC)
TRIGGER = "scope_summaries_added"
# The statement the listing ran before migration 015, with the same filters and page.
GROUPED = sql.SQL(
    """
    SELECT agent_id, user_id, conversation_id, count(*) AS turns,
           min(occurred_at) AS first_occurred_at, max(occurred_at) AS last_occurred_at
    FROM conversation_embeddings
    WHERE {where}
    GROUP BY agent_id, user_id, conversation_id
    ORDER BY agent_id, user_id, conversation_id NULLS FIRST
    LIMIT %(limit)s OFFSET %(offset)s
    """
)


def agent(n: int) -> uuid.UUID:
    return uuid.UUID(int=0x5C0BE000_0000_4000_8000_000000000000 + n)


def scope_turns(rows: int, rng: np.random.Generator, tag: str) -> Iterator[list[dict[str, Any]]]:
    """``rows`` turns spread evenly over the scopes, scope after scope, in batches of 1,000."""
    per_scope = rows // SCOPES
    pending: list[dict[str, Any]] = []
    for a in range(AGENTS):
        for u in range(USERS_PER_AGENT):
            for conversation in CONVERSATIONS:
                offsets = np.sort(rng.integers(0, 365 * 24 * 3600, size=per_scope))
                vectors = rng.normal(size=(per_scope, 384)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                pending += [
                    {"agent_id": agent(a), "user_id": f"{tag}{u:04d}", "role": "user",
                     "content": f"turn {i} of {tag}{u:04d}", "conversation_id": conversation,
                     "embedding": vectors[i],
                     "occurred_at": START + timedelta(seconds=int(offsets[i]))}
                    for i in range(per_scope)
                ]  # fmt: skip
                while len(pending) >= BATCH:
                    yield pending[:BATCH]
                    pending = pending[BATCH:]
    if pending:
        yield pending


def load(memory: Memory, tenant_id: Any, rows: int) -> None:
    tenant = memory.tenant(tenant_id)
    memory.drop_vector_index()
    started = time.perf_counter()
    stored = 0
    for batch in scope_turns(rows, np.random.default_rng(3), "U"):
        tenant.remember(batch)
        stored += len(batch)
        if stored % 100_000 == 0:
            print(f"  loaded {stored} turns, {stored / (time.perf_counter() - started):.0f}/s")
    elapsed = time.perf_counter() - started
    print(f"load: {stored} turns in {elapsed:.0f} s = {stored / elapsed:.0f} turns/s (no HNSW)")


def timed(run: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    ms, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = run()
        ms.append((time.perf_counter() - started) * 1000)
    return ms, answer


def statements(
    tx: TenantConnection, shape: dict[str, Any]
) -> tuple[Callable[[], list[Any]], Callable[[], list[Any]]]:
    """The product's listing and the grouping it replaced, for one shape of request."""
    agent_id, user_id = shape.get("agent_id"), shape.get("user_id")
    limit, offset = shape["limit"], shape["offset"]

    def ours() -> list[Any]:
        return turns.scopes(tx, agent_id, user_id, limit, offset)

    def before() -> list[Any]:
        parts, params = equal_to(agent_id=agent_id, user_id=user_id)
        where = sql.SQL(" AND ").join([sql.SQL("tenant_id = %(tenant_id)s"), *parts])
        params |= tx.params(limit=limit, offset=offset)
        return tx.conn.execute(GROUPED.format(where=where), params).fetchall()

    return ours, before


def listing(memory: Memory, tenant_id: Any, repeat: int, old_repeat: int) -> None:
    shapes: list[tuple[str, dict[str, Any]]] = [
        ("first page of 100", {"limit": 100, "offset": 0}),
        ("one agent, page of 100", {"agent_id": agent(3), "limit": 100, "offset": 0}),
        ("one user (all agents)", {"user_id": "U0250", "limit": 100, "offset": 0}),
        ("last page (offset 9,900)", {"limit": 100, "offset": SCOPES - 100}),
    ]
    print(f"list_scopes, DB side on one runtime connection ({repeat} / {old_repeat} runs):")
    print(f"  {'shape':28s} {'summaries':38s} {'grouping every turn (before)':38s}")
    for label, shape in shapes:
        new_ms: list[float] = []
        old_ms: list[float] = []
        with tenant_transaction(memory.resources.pool, tenant_id) as tx:
            ours, before = statements(tx, shape)
            for block in range(old_repeat):  # alternately, so both see the same machine
                ms, new = timed(ours, repeat // old_repeat)
                new_ms += ms[1:] if block == 0 else ms  # the first run plans the statement
                ms, old = timed(before, 1)
                old_ms += ms
            assert [
                (r.agent_id, r.user_id, r.conversation_id, r.turns, r.first_occurred_at,
                 r.last_occurred_at) for r in new
            ] == [tuple(row.values()) for row in old], label  # fmt: skip
        print(f"  {label:28s} {percentiles(new_ms):38s} {percentiles(old_ms):38s}")
    tenant = memory.tenant(tenant_id)
    ms, _ = timed(lambda: tenant.list_scopes(limit=100), repeat)
    print(f"  {'library list_scopes(limit=100)':28s} {percentiles(ms[1:])}")


def trigger_cost(memory: Memory, admin_url: str, batches: int) -> None:
    """Batches of 1,000 into fresh scopes of a scratch tenant, with the trigger on and off."""
    scratch = memory.create_tenant(f"scopes-ingest-{time.time_ns()}").id
    tenant = memory.tenant(scratch)
    source = scope_turns(100 * SCOPES, np.random.default_rng(5), "I")  # 10 scopes a batch
    rates: dict[bool, list[float]] = {True: [], False: []}
    try:
        with psycopg.connect(admin_url, autocommit=True) as owner:
            for n in range(batches * 2):
                with_trigger = n % 2 == 0
                change = "ENABLE" if with_trigger else "DISABLE"
                owner.execute(f"ALTER TABLE conversation_embeddings {change} TRIGGER {TRIGGER}")
                batch = next(source)
                started = time.perf_counter()
                tenant.remember(batch)
                rates[with_trigger].append(len(batch) / (time.perf_counter() - started))
            owner.execute(f"ALTER TABLE conversation_embeddings ENABLE TRIGGER {TRIGGER}")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as owner:
            owner.execute(f"ALTER TABLE conversation_embeddings ENABLE TRIGGER {TRIGGER}")
            owner.execute("DELETE FROM tenants WHERE id = %s", [scratch])
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(
        f"insert, batches of {BATCH} turns over 10 scopes, alternately ({batches} each way): "
        f"with the trigger median {on:.0f} turns/s, without {off:.0f} turns/s, "
        f"ratio {on / off:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "konstruct-memory-scopes"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--old-repeat", type=int, default=20)
    parser.add_argument("--insert-batches", type=int, default=30)
    args = parser.parse_args()
    if args.rows < SCOPES or args.repeat < args.old_repeat or args.old_repeat < 1:
        parser.error(f"--rows must be at least {SCOPES}, --repeat at least --old-repeat >= 1")
    settings = Settings(data_dir=args.data_dir, database_url=None, admin_database_url=None)
    with Memory.open(settings) as memory:
        server = EmbeddedServer(args.data_dir)
        existing = {t.name: t.id for t in memory.list_tenants()}
        tenant_id = existing.get("scopes") or memory.create_tenant("scopes").id
        if not args.skip_load:
            load(memory, tenant_id, args.rows)
        with psycopg.connect(server.admin_url(), autocommit=True) as conn:
            conn.execute("ANALYZE conversation_embeddings")
            conn.execute("ANALYZE scope_summaries")
        listing(memory, tenant_id, args.repeat, args.old_repeat)
        trigger_cost(memory, server.admin_url(), args.insert_batches)


if __name__ == "__main__":
    main()
