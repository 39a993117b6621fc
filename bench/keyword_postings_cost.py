"""What the keyword postings (migration 018) cost a write: library ingest with the postings'
triggers enabled and disabled, alternately in one run, through the bulk path (batches of
1,000 turns) and through ``remember`` of one turn at a time, both with their vectors given
(so the database's share is as large as it gets: embedding a turn costs 4-10 ms more).

    python bench/keyword_postings_cost.py ../shared/data/locomo-dev.json

The texts are the LoCoMo dev turns, as bench/heavy_scopes.py stores them. The HNSW index is
deferred for the run, as for a bulk load, so that it does not hide what the postings cost.
"Before" is the turn table without the postings' insert trigger (``DISABLE TRIGGER``, as the
owner, between rounds): what a write cost before migration 018.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import YEAR_START, Scope, VectorSource, locomo_texts, turns_for

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.library import Memory, TenantMemory

AGENT = uuid.UUID("5eed0000-0000-4000-8000-0000000000c0")
TRIGGER = "keyword_postings_added"


@contextmanager
def postings(admin_url: str, enabled: bool) -> Iterator[None]:
    action = "ENABLE" if enabled else "DISABLE"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE conversation_embeddings {action} TRIGGER {TRIGGER}")
    try:
        yield
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE conversation_embeddings ENABLE TRIGGER {TRIGGER}")


def rate(tenant: TenantMemory, batches: list[list[dict[str, Any]]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        tenant.remember(batch)
    return sum(map(len, batches)) / (time.perf_counter() - started)


def spread(rates: list[float]) -> str:
    return f"{statistics.median(rates):7.0f} ({min(rates):.0f}-{max(rates):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("locomo", type=Path)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "konstruct-memory-ingest"
    )
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, database_url=None, admin_database_url=None)
    source = VectorSource(texts=locomo_texts(args.locomo))
    with Memory.open(settings) as memory:
        admin_url = EmbeddedServer(args.data_dir).admin_url()
        tenant = memory.tenant(memory.create_tenant(f"ingest-{uuid.uuid4().hex[:8]}").id)
        rates: dict[tuple[str, bool], list[float]] = {}
        with memory.vector_index_deferred(maintenance_work_mem="1GB"):
            for n in range(args.rounds):
                for enabled in (True, False) if n % 2 == 0 else (False, True):
                    user = f"U{n}-{enabled}"
                    bulk = list(turns_for(Scope(0, AGENT, user, 4000), source, YEAR_START, 1000))
                    single = [
                        [t]
                        for t in next(
                            turns_for(Scope(0, AGENT, user + "s", 200), source, YEAR_START, 200)
                        )
                    ]
                    with postings(admin_url, enabled):
                        rates.setdefault(("bulk", enabled), []).append(rate(tenant, bulk))
                        rates.setdefault(("remember", enabled), []).append(rate(tenant, single))
        with psycopg.connect(admin_url) as conn:
            held = conn.execute(
                "SELECT count(*) FROM keyword_postings WHERE tenant_id = %s", [tenant.tenant_id]
            ).fetchone()
    print(f"{args.rounds} rounds, alternating; turns/s median (min-max)")
    for path in ("bulk", "remember"):
        before, after = rates[(path, False)], rates[(path, True)]
        ratio = statistics.median(after) / statistics.median(before)
        print(
            f"  {path:9s} before {spread(before)}  after {spread(after)}  after/before {ratio:.2f}"
        )
    print(f"  postings written: {held[0] if held else 0}")


if __name__ == "__main__":
    main()
