"""Soak: mixed load for a long while against ``serve --workers 2`` reading from a streaming
replica, watching for what only time shows (memory that grows, connections that pile up,
writes that go missing, latency that drifts).

    python bench/soak.py                               # 30 minutes, windows of 5
    python bench/soak.py --minutes 6 --window-minutes 1

It makes a throwaway embedded PostgreSQL and a standby of it (``konstruct-memory server
standby``) in a temporary directory, starts ``serve`` with its defaults over them (the local
model, real embeddings), creates 5 tenants of 40 users each, seeds every user with turns, and
then runs a fixed number of clients, each sending requests one after another: 70 % recall,
20 % remember (2 turns with ids of the client's), 5 % history, 5 % context. A refused client
waits what Retry-After says. Per window it prints accepted requests/s, their p50/p99,
refusals by reason, other errors, the mean RSS of each serve process (/proc), the most client
connections seen on each PostgreSQL (pg_stat_activity as the owner role), and the CPU used by
serve and by this load generator. At the end every acknowledged turn is looked for.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

from soak_load import Tally, User, found_by_id, lost_writes, make_users, run_client, seed
from soak_load import stored_ids as history_ids
from soak_report import Labels, Sample, Window, summary_table, window_table
from soak_stack import Stack, child_pids, client_connections, cpu_seconds, rss_mib, soak_stack

SAMPLE_EVERY_S = 5.0
# A replica may lag the primary by up to KONSTRUCT_MEMORY_REPLICA_MAX_LAG_S (5 s) before reads
# leave it: a turn missing from history is looked for again, by id, after this long.
SECOND_LOOK_AFTER_S = 6.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--window-minutes", type=float, default=5)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="serve --workers")
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--users", type=int, default=200, help="over all tenants")
    parser.add_argument("--seed-turns", type=int, default=20, help="per user, before the load")
    args = parser.parse_args()

    with soak_stack(args.workers) as stack:
        users = make_users(stack.base, args.tenants, args.users)
        started = time.monotonic()
        seed(stack.base, users, args.seed_turns)
        print(
            f"{args.tenants} tenants, {args.users} users, {args.seed_turns} turns each seeded in "
            f"{time.monotonic() - started:.0f} s; {args.clients} clients for {args.minutes:g} "
            f"minutes against serve --workers {args.workers} with a streaming replica",
            flush=True,
        )
        tally = Tally()
        load_before = os.getloadavg()[0]
        windows, labels = soak(stack, users, tally, args)
        host_load = (load_before, os.getloadavg()[0])
        lost, acknowledged = check_writes(stack.base, tally)
    processes = ["parent", *sorted(set(labels.names.values()))]
    print("\n" + window_table(windows, processes))
    print(
        "\n" + summary_table(windows, processes, acknowledged, lost, tally.other_errors, host_load)
    )


def soak(
    stack: Stack, users: list[User], tally: Tally, args: argparse.Namespace
) -> tuple[list[Window], Labels]:
    """Run the clients for ``args.minutes``; the windows of what happened meanwhile."""
    labels = Labels(stack.serve_pid)
    window_s = 60 * args.window_minutes
    start = time.monotonic()
    deadline = start + 60 * args.minutes
    windows: list[Window] = []
    with ThreadPoolExecutor(args.clients) as pool:
        running = [
            pool.submit(run_client, stack.base, users, tally, deadline, n)
            for n in range(args.clients)
        ]
        window_start, samples = start, []
        serve_cpu, load_cpu = serve_cpu_seconds(stack.serve_pid), own_cpu_seconds()
        while (now := time.monotonic()) < deadline:
            window_end = min(window_start + window_s, deadline)
            time.sleep(max(0.0, min(SAMPLE_EVERY_S, window_end - now)))
            samples.append(sample(stack, labels))
            if time.monotonic() >= window_end - 0.01:  # sleep() may wake a hair early
                serve_now, load_now = serve_cpu_seconds(stack.serve_pid), own_cpu_seconds()
                with tally.lock:
                    outcomes = [o for o in tally.outcomes if window_start <= o.finished]
                window = Window(
                    window_start,
                    window_end,
                    [o for o in outcomes if o.finished < window_end],
                    samples,
                    serve_now - serve_cpu,
                    load_now - load_cpu,
                )
                windows.append(window)
                print(window_line(len(windows), window), flush=True)
                window_start, samples = window_end, []
                serve_cpu, load_cpu = serve_now, load_now
        for client in running:
            client.result()  # a client that raised fails the run here
    # Answers that came after the last window closed belong to it.
    windows[-1].outcomes += [o for o in tally.outcomes if o.finished >= windows[-1].end]
    return windows, labels


def sample(stack: Stack, labels: Labels) -> Sample:
    rss = {}
    for pid in [stack.serve_pid, *child_pids(stack.serve_pid)]:
        if (mib := rss_mib(pid)) is not None:
            rss[labels.of(pid)] = mib
    connections = (
        client_connections(stack.primary_admin_url),
        client_connections(stack.standby_admin_url),
    )
    return Sample(time.monotonic(), rss, connections)


def check_writes(base: str, tally: Tally) -> tuple[int, int]:
    """(acknowledged turns not found, acknowledged turns): history first, then by id."""
    time.sleep(SECOND_LOOK_AFTER_S)
    missing = lost_writes(tally.acknowledged, lambda user: history_ids(base, user))
    if missing:
        time.sleep(SECOND_LOOK_AFTER_S)
    lost = sum(len(ids - found_by_id(base, user, ids)) for user, ids in missing.items())
    return lost, sum(len(ids) for ids in tally.acknowledged.values())


def serve_cpu_seconds(parent: int) -> float:
    return sum(cpu_seconds(pid) for pid in [parent, *child_pids(parent)])


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def window_line(n: int, window: Window) -> str:
    """A progress line as each window closes (the tables come at the end)."""
    accepted = window.accepted_seconds()
    rss = ", ".join(f"{name} {mib:.0f}" for name, mib in sorted(window.mean_rss().items()))
    return (
        f"window {n}: {len(accepted) / window.seconds:.1f} accepted/s, refusals "
        f"{dict(window.refusals()) or 'none'}, {window.errors()} errors, RSS MiB {rss}"
    )


if __name__ == "__main__":
    main()
