"""The consistency token's cost: a history read through a second process, with and without the
position of a write made through the first, on a standby that keeps up and on one that lags.

    python bench/consistency_token.py [--reads 200]

Two processes of the service are two ``Memory`` objects here (each its own pools, replica
monitor and record of write positions) over one embedded primary and a streaming standby of
it, in a temporary directory. Process A writes; process B reads the same user's history
(``GET /v1/history`` does the same work) carrying A's position or not. "Lagging": the standby's
replay is paused after A's write, so the token sends B's read to the primary after waiting
``replica_wait_s`` for the standby; without the token, B answers from the standby, without
A's write.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.library import Memory

AGENT = uuid.UUID("5d1c0a3e-8b2f-4e6a-9c7d-1f0e2a3b4c5d")


def timed(read: Callable[[], object], n: int) -> tuple[float, float]:
    """(p50, p99) in ms of ``n`` calls."""
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        read()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))]


def standby_sql(standby: EmbeddedServer, statement: str) -> None:
    with psycopg.connect(standby.superuser_url(), autocommit=True) as conn:
        conn.execute(statement)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    # A directory each: the server user must reach its own (mkdtemp makes them owner-only).
    dirs = [Path(tempfile.mkdtemp(prefix="km-token-")) for _ in range(3)]
    primary, standby = EmbeddedServer(dirs[0]), EmbeddedServer(dirs[1])
    try:
        primary.ensure_running()
        standby.make_standby_of(primary)
        settings = Settings(
            data_dir=dirs[2],
            database_url=primary.runtime_url(),
            admin_database_url=primary.admin_url(),
            replica_url=[standby.runtime_url()],
        )
        with Memory.open(settings) as process_a, Memory.open(settings) as process_b:
            tenant_id = process_a.create_tenant("token").id
            a = process_a.tenant(tenant_id)
            b_plain, b_token = process_b.tenant(tenant_id), process_b.tenant(tenant_id)
            a.remember(
                [{"agent_id": AGENT, "user_id": "U1", "role": "user", "content": f"turn {i}"}
                 for i in range(20)]
            )  # fmt: skip
            time.sleep(1.0)
            rows = []
            for lagging in (False, True):
                state = "standby lagging" if lagging else "standby caught up"
                if lagging:
                    standby_sql(standby, "SELECT pg_wal_replay_pause()")
                latest = f"written through A ({state})"
                a.remember(
                    [{"agent_id": AGENT, "user_id": "U1", "role": "user", "content": latest}]
                )
                if not lagging:
                    time.sleep(1.0)  # replayed
                assert a.position is not None
                b_token.observe(a.position)
                for label, view in (("no token", b_plain), ("token", b_token)):
                    p50, p99 = timed(lambda view=view: view.history(AGENT, "U1"), args.reads)
                    seen = latest in [t.content for t in view.history(AGENT, "U1")]
                    rows.append((state, label, p50, p99, seen))
                if lagging:
                    standby_sql(standby, "SELECT pg_wal_replay_resume()")
        print(f"history reads through process B, {args.reads} each, replica_wait_s "
              f"{settings.replica_wait_s}")  # fmt: skip
        print("standby | B's read | p50 ms | p99 ms | sees A's latest write")
        for state, label, p50, p99, seen in rows:
            print(f"{state} | {label} | {p50:.2f} | {p99:.2f} | {'yes' if seen else 'no'}")
    finally:
        standby.stop()
        primary.stop()
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
