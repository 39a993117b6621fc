"""Data lifecycle benchmark: erasure throughput, recall while retention removes 100k turns, and
the cost of the read audit trail.

    python bench/lifecycle.py                   # 100,000 expiring turns (the issue's figure)
    python bench/lifecycle.py --expiring 20000  # a quick run
    python bench/lifecycle.py --scenarios retention --vacuum-cost-delays 0,2,10

On a fresh embedded PostgreSQL with the local model, in one run:

* **erasure**: every user of a tenant erased one by one through ``erase`` (the SECURITY DEFINER
  function: delete, tombstone each id, ledger row) against the same volume removed by a bare
  ``DELETE`` in a transaction on the owner connection (no tombstones, no ledger, no access
  check): turns/s and the ratio, for
  small and large subjects, then the VACUUM that reclaims them;
* **retention**: recall latency (p50/p99, concurrent clients) before, during a retention run
  that removes ``--expiring`` turns in batches, during the VACUUM that follows, and after it,
  once per VACUUM throttle of ``--vacuum-cost-delays`` (by default unthrottled, then the
  default ``KONSTRUCT_MEMORY_VACUUM_COST_DELAY_MS`` with the default niceness of its
  backend). A removal can be vacuumed only once, so each trial loads its own ``--expiring``
  turns and rebuilds the HNSW index first: every VACUUM starts from a fresh graph of the same
  size, and is compared with the recall measured just before its own removal and just after
  its own VACUUM, with the machine quiet (checkpointed, no autovacuum running);
* **audit**: recall latency with ``audit_reads`` off and on, in alternating blocks.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import VectorSource

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.vacuum import VacuumThrottle
from konstruct_memory.engine.retention import RetentionReport
from konstruct_memory.library import Memory, TenantMemory

AGENT = uuid.uuid4()
BATCH = 1000
SET_TENANT = "SELECT set_config('app.current_tenant', %s, true)"


def load(
    tenant: TenantMemory, source: VectorSource, users: int, per_user: int, age_days: float
) -> int:
    """``users`` x ``per_user`` turns with their vectors, ``age_days`` old (bulk path)."""
    start = datetime.now(UTC) - timedelta(days=age_days)
    rows = users * per_user
    texts, vectors = source.draw(rows)
    turns = [
        {
            "agent_id": AGENT,
            "user_id": f"U{i % users}",
            "role": "user" if i % 2 else "assistant",
            "content": texts[i],
            "embedding": vectors[i],
            "occurred_at": start + timedelta(seconds=i),
        }
        for i in range(rows)
    ]
    for at in range(0, rows, BATCH):
        tenant.remember(turns[at : at + BATCH])
    return rows


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


Timed = list[tuple[float, float]]  # (monotonic time at the end of a recall, its latency in ms)


def recall_load(
    tenant: TenantMemory, queries: list[str], users: int, clients: int, until: Callable[[], bool]
) -> Timed:
    """Recall latencies from ``clients`` threads, each calling until ``until()``."""
    latencies: Timed = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not until():
            started = time.perf_counter()
            user, query = f"U{rng.integers(users)}", queries[rng.integers(len(queries))]
            tenant.recall(AGENT, user, query, k=10)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append((time.monotonic(), elapsed))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def window_medians(samples: Timed, window_s: float) -> list[float]:
    """The p50 of each ``window_s`` of the run: one slow stretch moves one window, not all."""
    if not samples:
        return []
    first = samples[0][0]
    windows: dict[int, list[float]] = {}
    for at, latency in samples:
        windows.setdefault(int((at - first) // window_s), []).append(latency)
    return [statistics.median(latencies) for latencies in windows.values() if len(latencies) > 3]


def for_seconds(seconds: float) -> Callable[[], bool]:
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() >= deadline


def erasure(memory: Memory, source: VectorSource, users: int, per_user: int) -> None:
    """Erase ``users`` users of ``per_user`` turns each, interleaved with a bare DELETE of a
    twin tenant; then the VACUUM that reclaims both."""
    ours = memory.tenant(memory.create_tenant("bench-erase").id)
    bare = memory.tenant(memory.create_tenant("bench-erase-bare").id)
    with memory.vector_index_deferred():
        rows = load(ours, source, users, per_user, age_days=1)
        load(bare, source, users, per_user, age_days=1)
    memory.vacuum(cost_delay_ms=0, niceness=0)
    ours_ms: list[float] = []
    bare_ms: list[float] = []
    erased = bare_erased = 0
    admin_url = memory.resources.admin_url
    assert admin_url is not None
    with psycopg.connect(admin_url, autocommit=True) as owner:
        for user in range(users):  # interleaved, so both see the same machine
            started = time.perf_counter()
            erased += ours.erase(AGENT, f"U{user}").turns_erased
            ours_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            with owner.transaction():  # row-level security is forced on the owner too
                owner.execute(SET_TENANT, [str(bare.tenant_id)])
                deleted = owner.execute(
                    "DELETE FROM conversation_embeddings "
                    "WHERE tenant_id = %s AND agent_id = %s AND user_id = %s",
                    [bare.tenant_id, AGENT, f"U{user}"],
                ).rowcount
            bare_ms.append((time.perf_counter() - started) * 1000)
            bare_erased += deleted
    assert erased == bare_erased == rows, (erased, bare_erased, rows)
    started = time.perf_counter()
    memory.vacuum(cost_delay_ms=0, niceness=0)  # unthrottled: the figure is its own work
    vacuum_s = time.perf_counter() - started
    ours_rate = rows / (sum(ours_ms) / 1000)
    bare_rate = rows / (sum(bare_ms) / 1000)
    print(f"erasure: {users} users x {per_user} turns = {rows} turns (and as many bare)")
    print(
        f"  erase (function, tombstones, ledger): {ours_rate:9,.0f} turns/s, "
        f"median {statistics.median(ours_ms):6.1f} ms per user"
    )
    print(
        f"  bare DELETE (owner):                  {bare_rate:9,.0f} turns/s, "
        f"median {statistics.median(bare_ms):6.1f} ms per user"
    )
    print(f"  ratio bare/ours: {bare_rate / ours_rate:.2f}; VACUUM of both after: {vacuum_s:.1f} s")


def retention(
    memory: Memory,
    source: VectorSource,
    expiring: int,
    clients: int,
    seconds: float,
    throttles: list[VacuumThrottle],
) -> None:
    """One trial per throttle: the same removal, from the same start, then
    its VACUUM with that throttle, all while ``clients`` recall from another tenant."""
    queried = memory.tenant(memory.create_tenant("bench-recall").id)
    users = 20
    with memory.vector_index_deferred():
        load(queried, source, users, 500, age_days=1)
    queries = source.draw(200)[0]
    print(
        f"retention: {expiring} turns 40 days old past a 30-day window, {clients} concurrent "
        "recall clients of another tenant (local model); one trial per VACUUM throttle"
    )
    for throttle in throttles:
        retention_trial(memory, source, queried, queries, expiring, clients, seconds, throttle)


def quiesce(superuser_url: str) -> None:
    """CHECKPOINT, then wait until no autovacuum worker runs: a baseline is taken with nothing
    else writing, so that the VACUUM is compared with recall alone, not with the last load's
    writeback or an autovacuum of the turns just loaded."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()
            if busy is None or busy[0] == 0:
                return
            time.sleep(1)


def retention_trial(
    memory: Memory,
    source: VectorSource,
    queried: TenantMemory,
    queries: list[str],
    expiring: int,
    clients: int,
    seconds: float,
    throttle: VacuumThrottle,
) -> None:
    """Load ``expiring`` old turns into a tenant of their own and rebuild the HNSW index
    (every trial starts from a freshly built graph of the same size: the earlier trials'
    turns are gone and vacuumed), recall for ``seconds``, remove them by retention, VACUUM
    with the throttle while recalling, and recall for ``seconds`` again once it is done.

    The VACUUM is compared with both baselines, by the median of 10-second windows' p50: the
    same clients, the same tenant, minutes apart, so each window is a sample of the machine
    and one slow stretch (the host's other work) moves one window, not the figure."""
    users = 20
    superuser_url = EmbeddedServer(memory.settings.data_dir).superuser_url()
    expiring_id = memory.create_tenant("bench-retention").id
    doomed = memory.tenant(expiring_id)
    with memory.vector_index_deferred():
        load(doomed, source, max(1, expiring // 500), 500, age_days=40)
    memory.vacuum(cost_delay_ms=0, niceness=0)
    quiesce(superuser_url)
    recall_load(queried, queries, users, clients, for_seconds(3))  # warm up
    before = recall_load(queried, queries, users, clients, for_seconds(seconds))

    memory.update_tenant(expiring_id, retention_days=30)
    done = threading.Event()
    report: list[object] = []

    def run() -> None:
        started = time.perf_counter()
        report.append(memory.apply_retention())
        report.append(time.perf_counter() - started)
        done.set()

    runner = threading.Thread(target=run)
    runner.start()
    during = recall_load(queried, queries, users, clients, done.is_set)
    runner.join()
    removal, took = report
    assert isinstance(removal, RetentionReport)
    quiesce(superuser_url)  # the removal's writeback is the removal's, not the VACUUM's
    vacuumed = threading.Event()
    timing: list[float] = []

    def vacuum() -> None:
        started = time.perf_counter()
        memory.vacuum(throttle.cost_delay_ms, throttle.cost_limit, throttle.niceness)
        timing.append(time.perf_counter() - started)
        vacuumed.set()

    threading.Thread(target=vacuum).start()
    in_vacuum = recall_load(queried, queries, users, clients, vacuumed.is_set)
    quiesce(superuser_url)
    after = recall_load(queried, queries, users, clients, for_seconds(seconds))
    print(
        f"  VACUUM {throttle}: retention removed {removal.turns_erased} turns in {took:.1f} s; "
        f"then VACUUM in {timing[0]:.1f} s"
    )
    phases = {
        "before": before,
        "during retention": during,
        "during VACUUM": in_vacuum,
        "after": after,
    }
    windows = {label: window_medians(samples, 10) for label, samples in phases.items()}
    for label, samples in phases.items():
        if samples:
            latencies = [latency for _, latency in samples]
            of_phase = windows[label]
            median = f"{statistics.median(of_phase):6.1f} ms" if of_phase else "     -"
            print(
                f"    recall {label:17s} n={len(samples):6d}  p50 {percentile(latencies, 0.5):6.1f}"
                f" ms  p99 {percentile(latencies, 0.99):6.1f} ms  "
                f"10-s windows' p50: median {median} of {len(of_phase)}"
            )
    during_vacuum = statistics.median(windows["during VACUUM"])
    for label, baseline in (
        ("before", windows["before"]),
        ("after", windows["after"]),
        ("before and after", windows["before"] + windows["after"]),
    ):
        change = during_vacuum / statistics.median(baseline) - 1
        print(f"    recall p50 during VACUUM against {label}: {100 * change:+.1f} %")


def audit(memory: Memory, source: VectorSource, blocks: int, per_block: int) -> None:
    tenant_id = memory.create_tenant("bench-audit").id
    tenant = memory.tenant(tenant_id)
    users = 20
    with memory.vector_index_deferred():
        load(tenant, source, users, 500, age_days=1)
    queries = source.draw(200)[0]
    rng = np.random.default_rng(3)
    medians: dict[bool, list[float]] = {False: [], True: []}
    for block in range(2 * blocks):
        audited = block % 2 == 1
        memory.update_tenant(tenant_id, audit_reads=audited)
        samples = []
        for _ in range(per_block):
            started = time.perf_counter()
            user, query = f"U{rng.integers(users)}", queries[rng.integers(len(queries))]
            tenant.recall(AGENT, user, query, k=10)
            samples.append((time.perf_counter() - started) * 1000)
        medians[audited].append(statistics.median(samples))
    off, on = statistics.median(medians[False]), statistics.median(medians[True])
    print(f"audit: recall p50 over {blocks} alternating blocks of {per_block} each way")
    print(f"  audit_reads off {off:.2f} ms, on {on:.2f} ms: overhead {100 * (on / off - 1):+.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expiring", type=int, default=100_000)
    parser.add_argument("--erase-users", type=int, default=200)
    parser.add_argument("--erase-turns-per-user", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--audit-blocks", type=int, default=10)
    parser.add_argument(
        "--vacuum-cost-delays",
        default=f"0,{Settings.model_fields['vacuum_cost_delay_ms'].default:g}",
        help="One retention trial per VACUUM cost delay in ms, comma separated (0: "
        "unthrottled); default: unthrottled, then the setting's default",
    )
    parser.add_argument(
        "--vacuum-cost-limit", type=int, default=Settings.model_fields["vacuum_cost_limit"].default
    )
    parser.add_argument(
        "--vacuum-niceness",
        type=int,
        default=Settings.model_fields["vacuum_niceness"].default,
        help="The VACUUM backend's CPU niceness in the throttled trials (the unthrottled one, "
        "a cost delay of 0, runs at 0)",
    )
    parser.add_argument(
        "--scenarios", default="erasure,retention,audit", help="Which to run, comma separated"
    )
    args = parser.parse_args()
    scenarios = set(args.scenarios.split(","))
    delays = [float(delay) for delay in args.vacuum_cost_delays.split(",")]
    data_dir = Path(tempfile.mkdtemp(prefix="km-bench-lifecycle-"))
    # VACUUM runs where the figures say, not in the background of every erasure.
    settings = Settings(
        data_dir=data_dir,
        database_url=None,
        admin_database_url=None,
        retention_interval_s=0,
        vacuum_after_erasure=False,
    )
    source = VectorSource()
    try:
        with Memory.open(settings) as memory:
            if "erasure" in scenarios:
                erasure(memory, source, args.erase_users, args.erase_turns_per_user)
                erasure(memory, source, args.erase_users // 20, args.erase_turns_per_user * 20)
            if "retention" in scenarios:
                niceness = args.vacuum_niceness
                throttles = [
                    VacuumThrottle(delay, args.vacuum_cost_limit, niceness if delay else 0)
                    for delay in delays
                ]
                retention(memory, source, args.expiring, args.clients, args.seconds, throttles)
            if "audit" in scenarios:
                audit(memory, source, args.audit_blocks, per_block=50)
    finally:
        EmbeddedServer(data_dir).stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
