"""The soak benchmark's own arithmetic (bench/soak*.py): what it reads from /proc, how it names
refusals and the serve processes, and the check that finds acknowledged writes gone missing.
A wrong figure here would pass a soak that should fail."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_load import User, lost_writes, refusal_of
from soak_report import Labels, growth, percentile
from soak_stack import child_pids, cpu_seconds, rss_mib

ALICE = User("key-a", "agent-a", "alice")
BOB = User("key-b", "agent-b", "bob")


def test_a_write_is_lost_only_when_the_store_lacks_it() -> None:
    acknowledged = {ALICE: ["t1", "t2"], BOB: ["t3"]}
    stored = {ALICE: {"t1", "t2", "seeded"}, BOB: set[str]()}
    assert lost_writes(acknowledged, lambda user: stored[user]) == {BOB: {"t3"}}
    stored[BOB].add("t3")
    assert lost_writes(acknowledged, lambda user: stored[user]) == {}


def test_refusals_are_named_by_whose_limit_refused() -> None:
    def answer(status: int, code: str, message: str) -> httpx.Response:
        return httpx.Response(status, json={"error": {"code": code, "message": message}})

    share = "this tenant already has 2 requests in flight, its share of the server"
    assert refusal_of(answer(429, "rate_limited", share)) == "429 share"
    rate = "this tenant's rate limit (5 requests/s) is reached"
    assert refusal_of(answer(429, "rate_limited", rate)) == "429 rate"
    assert refusal_of(answer(503, "overloaded", "too many")) == "503 overloaded"
    assert refusal_of(answer(503, "database_unavailable", "down")) == "503 database_unavailable"
    assert refusal_of(httpx.Response(503, text="<html>")) == "503 unexplained"
    assert refusal_of(answer(200, "", "")) == ""


def test_a_worker_started_again_is_not_taken_for_the_one_it_replaced() -> None:
    labels = Labels(parent=100)
    assert [labels.of(p) for p in (100, 201, 202, 201)] == [
        "parent",
        "worker 1",
        "worker 2",
        "worker 1",
    ]
    assert labels.of(203) == "worker 3"


def test_percentile_and_growth() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 51
    assert percentile(values, 0.99) == 100
    assert math.isnan(percentile([], 0.5))
    assert growth(200.0, 210.0) == "+5.0 %"
    assert growth(200.0, 190.0) == "-5.0 %"
    assert growth(None, 210.0) == "n/a"


def test_proc_readings_of_a_live_process_and_a_gone_one() -> None:
    own = rss_mib(os.getpid())
    assert own is not None and 10 < own < 10_000
    assert cpu_seconds(os.getpid()) > 0
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in child_pids(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert rss_mib(child.pid) is None
    assert cpu_seconds(child.pid) == 0.0
