"""Once-per-cluster work: of several processes running the retention schedule, one leads and
applies it; when the leader stops, another takes over. Each Leadership holds its own session,
as a process does; the lock is taken as the runtime role."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import psycopg

from konstruct_memory.db.leadership import RETENTION_SCHEDULE, Leadership
from konstruct_memory.engine.retention import RetentionSchedule
from tests.conftest import DatabaseUnderTest

INTERVAL = 0.05


def schedules(url: str, runs: Counter[int], n: int) -> list[RetentionSchedule]:
    """``n`` schedules, as ``n`` processes run them: each counts its runs in ``runs``."""
    lock = threading.Lock()

    def counting(process: int) -> Callable[[], None]:
        def run() -> None:
            with lock:
                runs[process] += 1

        return run

    return [
        RetentionSchedule(counting(p), INTERVAL, Leadership(url, RETENTION_SCHEDULE))
        for p in range(n)
    ]


def wait_for_runs(runs: Counter[int], process: int, at_least: int) -> None:
    deadline = time.monotonic() + 10
    while runs[process] < at_least and time.monotonic() < deadline:
        time.sleep(INTERVAL)


def test_three_processes_run_the_schedule_once_and_a_follower_takes_over(
    database: DatabaseUnderTest,
) -> None:
    runs: Counter[int] = Counter()
    three = schedules(database.runtime_url, runs, 3)
    for schedule in three:
        schedule.start()
    try:
        time.sleep(20 * INTERVAL)
        assert len(runs) == 1, f"more than one process ran the schedule: {runs}"
        (leader,) = runs
        three[leader].stop()  # its session ends: the lock goes with it
        followers = [p for p in range(3) if p != leader]
        deadline = time.monotonic() + 10
        while not any(runs[p] for p in followers) and time.monotonic() < deadline:
            time.sleep(INTERVAL)
        took_over = [p for p in followers if runs[p]]
        assert len(took_over) == 1, f"no single follower took over: {runs}"
        before = runs[took_over[0]]
        wait_for_runs(runs, took_over[0], before + 3)
        assert runs[took_over[0]] >= before + 3
        assert sum(1 for p in followers if runs[p]) == 1
    finally:
        for schedule in three:
            schedule.stop()


def test_a_session_holding_the_lock_keeps_every_schedule_waiting(
    database: DatabaseUnderTest,
) -> None:
    runs: Counter[int] = Counter()
    with psycopg.connect(database.runtime_url, autocommit=True) as holder:
        assert holder.execute("SELECT pg_try_advisory_lock(%s)", (RETENTION_SCHEDULE,)).fetchone()
        (schedule,) = schedules(database.runtime_url, runs, 1)
        schedule.start()
        try:
            time.sleep(10 * INTERVAL)
            assert runs[0] == 0
        finally:
            holder.close()  # the holder's session ends
        try:
            wait_for_runs(runs, 0, 1)
            assert runs[0] >= 1
        finally:
            schedule.stop()
