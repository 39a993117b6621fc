"""Ingest with the HNSW graph in place: turns/s by concurrent writers, at 100k and 1M turns.

    python bench/ingest_writers.py ../shared/data/locomo-dev.json     # load to 100k, measure,
                                                                       # load to 1M, measure
    python bench/ingest_writers.py --skip-load                         # re-measure the loaded set
    python bench/ingest_writers.py --skip-load --modes vectors --writers 8 --scopes one

The table is filled through the product's bulk path (``remember`` batches of 1,000 with
precomputed vectors inside ``Memory.vector_index_deferred``: LoCoMo-vocabulary turns with real
MiniLM vectors plus noise, ``bench/scale_data.py``) to each scale, with the HNSW index (m = 32,
ef_construction = 128) rebuilt after each load. Then, for 1, 4 and 8 concurrent writers, each
mode writes for ``--seconds``:

* ``embed``: ``TenantMemory.remember`` from writer threads sharing one ``Memory``, real
  embedding (the texts are LoCoMo turns);
* ``vectors``: the same with the vectors given (the product's path for precomputed vectors):
  the database alone;
* ``http``: ``POST /v1/turns`` from client threads to a real ``serve`` on the same database,
  embedding on the server.

Writers go to their own (agent, user) scope each, or with ``--scopes one`` all to one scope.
For each it prints turns/s, batch latency p50 / p99, the time of a batch spent embedding and in
the database (the service's own timers: the library's observer, the server's ``/metrics``)
per turn, and where the CPU went (this process, the server, the PostgreSQL backends, in
CPU-seconds per 1,000 turns, and the share of the machine's cores busy with them), with the
load average: on 2 cores the bottleneck is whichever takes the CPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import YEAR_START, Scope, VectorSource, locomo_texts, turns_for
from served import ADMIN_TOKEN, running

from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.db.tenant import tenant_transaction
from konstruct_memory.library import Memory
from konstruct_memory.store import vector_index

AGENT = uuid.UUID("1a9e0000-0000-4000-8000-000000000001")
WRITER_AGENT = "1a9e0000-0000-4000-8000-000000000002"
LOADED_USER = "U{:05d}"  # the preloaded users, 1,000 turns each
MODES = ("embed", "vectors", "http")
_TICK = os.sysconf("SC_CLK_TCK")
_LOADED = "SELECT count(*) AS users, coalesce(sum(turns), 0) AS turns FROM scope_summaries " \
    "WHERE tenant_id = %(tenant_id)s AND agent_id = %(agent_id)s"  # fmt: skip
_IO = "SELECT coalesce(sum(reads), 0) AS reads, coalesce(sum(writes), 0) AS writes " \
    "FROM pg_stat_io WHERE backend_type = 'client backend' AND object = 'relation'"  # fmt: skip
_ALL_TURNS = "SELECT coalesce(sum(turns), 0) AS n FROM scope_summaries WHERE tenant_id = %(t)s"


class Split:
    """The service's own timers (an ``Observer``): seconds embedding and in the database."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.embedding_s = 0.0
        self.database_s = 0.0

    def embedding(self, seconds: float) -> None:
        with self.lock:
            self.embedding_s += seconds

    def database(self, seconds: float) -> None:
        with self.lock:
            self.database_s += seconds

    def read_served(self, by: str) -> None:
        pass

    def totals(self) -> tuple[float, float]:
        with self.lock:
            return self.embedding_s, self.database_s


def tree_cpu(root: int) -> float:
    """CPU-seconds of ``root`` (with its reaped children) and of its live children."""
    total = 0.0
    for entry in os.scandir("/proc"):
        try:
            text = Path(f"/proc/{entry.name}/stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()  # from the 3rd field (state) on
        if entry.name == str(root):  # utime, stime, cutime, cstime
            total += sum(int(x) for x in fields[11:15]) / _TICK
        elif len(fields) > 12 and fields[1] == str(root):
            total += sum(int(x) for x in fields[11:13]) / _TICK
    return total


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[float, float]:
    """(busy, all) jiffies of every core since boot, from /proc/stat."""
    times = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(times) - times[3] - times[4], sum(times)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def preload(memory: Memory, tenant_id: uuid.UUID, source: VectorSource, target: int) -> None:
    """Users of 1,000 turns each until the agent holds ``target`` preloaded turns, through the
    bulk path; the HNSW index is rebuilt over the whole table at the end."""
    with tenant_transaction(memory.resources.pool, tenant_id) as tx:
        row = tx.conn.execute(_LOADED, tx.params(agent_id=AGENT)).fetchone()
    users, turns = int(row["users"]), int(row["turns"])
    if turns >= target:
        return
    tenant = memory.tenant(tenant_id)
    started = time.perf_counter()
    with memory.vector_index_deferred(maintenance_work_mem="4GB"):
        for u in range(users, target // 1000):
            scope = Scope(0, AGENT, LOADED_USER.format(u), 1000)
            for batch in turns_for(scope, source, YEAR_START, 1000):
                tenant.remember(batch)
        loaded = time.perf_counter()
    added = target - turns
    print(
        f"loaded {added} turns in {loaded - started:.0f} s ({added / (loaded - started):.0f}/s, "
        f"HNSW deferred); index rebuilt over the table in {time.perf_counter() - loaded:.0f} s",
        flush=True,
    )


@dataclass
class Run:
    """What the writers did in one measurement."""

    turns: int = 0
    batch_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def drive(write: Callable[[int, int], int], writers: int, seconds: float) -> Run:
    """``writers`` threads call ``write(writer, n)`` (one batch; returns turns stored) until
    ``seconds`` have passed; a batch started in time is finished and counted."""
    run = Run()
    deadline = time.perf_counter() + seconds

    def loop(writer: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                stored = write(writer, n)
            except Exception as exc:  # counted and shown: a refusal is a figure too
                with run.lock:
                    run.errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
                time.sleep(0.05)
                continue
            ms = (time.perf_counter() - t) * 1000
            with run.lock:
                run.turns += stored
                run.batch_ms.append(ms)
            n += 1

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return run


@dataclass
class Bench:
    memory: Memory
    split: Split
    tenant_id: uuid.UUID
    texts: list[str]
    vectors: Any
    batch: int
    seconds: float
    postmaster: int
    http: tuple[str, int, dict[str, str]] | None = None  # base URL, serve pid, auth header

    def turns(
        self, writer: int, n: int, user: str, vectors: bool, offset: int = 0
    ) -> list[dict[str, Any]]:
        # Each measurement starts at its own offset: vectors inserted just before (by the
        # previous measurement) would find their graph neighbourhood in cache.
        start = (offset + (writer * 7919 + n) * self.batch) % (len(self.texts) - self.batch)
        return [
            {"agent_id": WRITER_AGENT, "user_id": user, "role": ("user", "assistant")[i % 2],
             "content": self.texts[start + i]}
            | ({"embedding": self.vectors[start + i]} if vectors else {})
            for i in range(self.batch)
        ]  # fmt: skip

    def server_split(self) -> tuple[float, float]:
        assert self.http is not None
        found = {}
        for line in httpx.get(f"{self.http[0]}/metrics").text.splitlines():
            for name in ("embedding", "database"):
                if line.startswith(f"konstruct_memory_{name}_seconds_sum "):
                    found[name] = float(line.split()[1])
        return found["embedding"], found["database"]

    def snapshot(self, timers: Callable[[], tuple[float, float]], serve: int | None) -> Any:
        with self.memory.resources.pool.connection() as conn:
            io = conn.execute(_IO).fetchone()
        busy, jiffies = machine_busy()
        return {
            "at": time.perf_counter(), "embed": timers()[0], "db": timers()[1],
            "client": own_cpu(), "serve": tree_cpu(serve) if serve else 0.0,
            "postgres": tree_cpu(self.postmaster), "busy": busy, "jiffies": jiffies,
            "reads": float(io["reads"]), "writes": float(io["writes"]), "load": loadavg(),
        }  # fmt: skip

    def measure(self, mode: str, writers: int, one_scope: bool) -> dict[str, Any]:
        tag = uuid.uuid4().hex[:8]
        offset = int(tag, 16) % len(self.texts)
        tenant = self.memory.tenant(self.tenant_id)

        def user(writer: int) -> str:
            return f"W{tag}" if one_scope else f"W{tag}-{writer}"

        if mode == "http":
            assert self.http is not None
            base, _, auth = self.http
            local = threading.local()

            def write(writer: int, n: int) -> int:
                if not hasattr(local, "client"):
                    local.client = httpx.Client(base_url=base, headers=auth, timeout=300)
                body = {"turns": self.turns(writer, n, user(writer), False, offset)}
                answer = local.client.post("/v1/turns", json=body)
                if answer.status_code != 201:
                    raise RuntimeError(f"{answer.status_code} {answer.text[:100]}")
                return self.batch

            timers = self.server_split
        else:

            def write(writer: int, n: int) -> int:
                tenant.remember(self.turns(writer, n, user(writer), mode == "vectors", offset))
                return self.batch

            timers = self.split.totals
        serve = self.http[1] if self.http and mode == "http" else None
        before = self.snapshot(timers, serve)
        run = drive(write, writers, self.seconds)
        after = self.snapshot(timers, serve)
        d = {k: after[k] - before[k] for k in before if k != "load"}
        n, wall = max(run.turns, 1), d["at"]
        figures = {
            "turns/s": run.turns / wall, "ms": run.batch_ms, "errors": run.errors,
            "embed": d["embed"] * 1000 / n, "db": d["db"] * 1000 / n,
            "client": d["client"] * 1000 / n, "serve": d["serve"] * 1000 / n,
            "postgres": d["postgres"] * 1000 / n,
            "share": (d["client"] + d["serve"] + d["postgres"]) / (wall * (os.cpu_count() or 1)),
            "machine": d["busy"] / max(d["jiffies"], 1),
            "reads": d["reads"] / n, "writes": d["writes"] / n,
        }  # fmt: skip
        print(f"  {mode:7s} {'one' if one_scope else 'own':3s} {writers} writers: "
              f"{run.turns} turns, {figures['turns/s']:.0f}/s; load {before['load']} -> "
              f"{after['load']}" + (f"; {len(run.errors)} errors: {run.errors[0]}"
              if run.errors else ""), flush=True)  # fmt: skip
        return figures


def table(cells: dict[tuple[int, str, str], list[dict[str, Any]]]) -> None:
    """Medians over the rounds (batch latencies pooled over them)."""
    print(
        "| writers | mode | scopes | turns/s, median (min-max) | batch p50 / p99 ms | "
        "embed / db ms per turn | CPU-s per 1k turns: this process / serve / PostgreSQL | "
        "our share of the cores (machine busy) | buffer reads / writes per turn |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    for (writers, mode, scopes), runs in cells.items():

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        rates = [r["turns/s"] for r in runs]
        ms = sorted(m for r in runs for m in r["ms"]) or [float("nan")]
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
        print(
            f"| {writers} | {mode} | {scopes} | {med('turns/s'):.0f} ({min(rates):.0f}-"
            f"{max(rates):.0f}) | {statistics.median(ms):.0f} / {p99:.0f} | "
            f"{med('embed'):.2f} / {med('db'):.2f} | {med('client'):.2f} / {med('serve'):.2f} / "
            f"{med('postgres'):.2f} | {med('share'):.0%} ({med('machine'):.0%}) | "
            f"{med('reads'):.0f} / {med('writes'):.0f} |",
            flush=True,
        )


def measure_scale(bench: Bench, args: argparse.Namespace) -> None:
    with tenant_transaction(bench.memory.resources.pool, bench.tenant_id) as tx:
        n = tx.conn.execute(_ALL_TURNS, {"t": bench.tenant_id}).fetchone()["n"]
    with psycopg.connect(EmbeddedServer(args.data_dir).admin_url()) as conn:
        m, ef = vector_index.graph(conn) or (0, 0)
    print(
        f"\n== {n} turns in the table, HNSW m = {m}, ef_construction = {ef}; batches of "
        f"{bench.batch}, {bench.seconds:.0f} s each; load average {loadavg()}",
        flush=True,
    )
    tenant = bench.memory.tenant(bench.tenant_id)
    tenant.remember(bench.turns(0, 0, "warm", vectors=False))  # loads the model's arena
    if bench.http is not None:
        base, _, auth = bench.http
        warm = {"turns": bench.turns(0, 1, "warm", vectors=False)}
        assert httpx.post(f"{base}/v1/turns", json=warm, headers=auth, timeout=300).is_success
    # Every cell once per round, the order reversed every other round: the machine's load
    # moves, and a cell measured always first or last would carry it.
    order = [
        (writers, mode, scopes)
        for writers in args.writers
        for mode in args.modes
        for scopes in args.scopes
        if writers > 1 or scopes == "own"  # one writer: one scope either way
    ]
    cells: dict[tuple[int, str, str], list[dict[str, Any]]] = {cell: [] for cell in order}
    for round_ in range(args.rounds):
        for writers, mode, scopes in order if round_ % 2 == 0 else order[::-1]:
            cells[writers, mode, scopes].append(bench.measure(mode, writers, scopes == "one"))
    print(f"\n{n} turns before, load average {loadavg()} after; medians of {args.rounds} rounds")
    table(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "locomo", nargs="?", type=Path, default=Path("../shared/data/locomo-dev.json"),
        help="LoCoMo-format file: the texts of the preloaded and the written turns",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "konstruct-memory-ingest"
    )
    parser.add_argument("--skip-load", action="store_true", help="measure the set as it is")
    parser.add_argument("--scales", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--scopes", nargs="+", choices=("own", "one"), default=["own", "one"])
    parser.add_argument("--batch", type=int, default=100, help="turns per remember / POST")
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per figure")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, database_url=None, admin_database_url=None,
                        pool_max_size=max(10, max(args.writers) + 2))  # fmt: skip
    split = Split()
    with Memory.open(settings, observer=split) as memory:
        existing = {t.name: t.id for t in memory.list_tenants()}
        tenant_id = existing.get("ingest") or memory.create_tenant("ingest").id
        texts = locomo_texts(args.locomo)
        source = VectorSource(texts=texts)
        drawn_texts, vectors = VectorSource(texts=texts, seed=23).draw(20_000)
        postmaster = EmbeddedServer(args.data_dir).postmaster_pid()
        assert postmaster is not None
        bench = Bench(memory, split, tenant_id, drawn_texts, vectors, args.batch, args.seconds,
                      postmaster)  # fmt: skip
        env = os.environ | {
            "KONSTRUCT_MEMORY_DATA_DIR": str(args.data_dir),
            "KONSTRUCT_MEMORY_ADMIN_TOKEN": ADMIN_TOKEN,
            "KONSTRUCT_MEMORY_MAX_IN_FLIGHT": "64",  # no refusals at 8 writers: not measured here
            "KONSTRUCT_MEMORY_POOL_MAX_SIZE": str(settings.pool_max_size),
        }
        env.pop("KONSTRUCT_MEMORY_DATABASE_URL", None)
        key = memory.create_api_key(tenant_id, name=f"ingest-{time.time_ns()}").api_key
        for scale in args.scales if not args.skip_load else [0]:
            if scale:
                preload(memory, tenant_id, source, scale)
            if "http" in args.modes:
                with running(env) as (base, pid):
                    bench.http = (base, pid, {"Authorization": f"Bearer {key}"})
                    measure_scale(bench, args)
            else:
                measure_scale(bench, args)


if __name__ == "__main__":
    main()
