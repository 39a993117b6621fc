"""The tenants' rates while the shared buckets cannot answer: each process counts on its own
(neither every limited tenant refused nor none limited), asks the database again only after a
while, and says so once in the log."""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

import psycopg
import pytest
from psycopg_pool import ConnectionPool, PoolTimeout

from konstruct_memory.api import tenant_rates
from konstruct_memory.api.observability import Metrics
from konstruct_memory.api.tenant_rates import TenantRates
from konstruct_memory.db.tenant import Connection


class UnreachablePool:
    """A pool whose every connection times out, as while the primary is down."""

    def __init__(self) -> None:
        self.asked = 0

    def connection(self) -> Any:
        self.asked += 1
        raise PoolTimeout("couldn't get a connection after 0.50 sec")


def rates_over(pool: UnreachablePool) -> TenantRates:
    return TenantRates(lambda: cast(ConnectionPool[Connection], pool), Metrics())


def test_without_the_database_a_tenant_is_counted_in_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = UnreachablePool()
    rates = rates_over(pool)
    tenant = uuid.uuid4()
    with caplog.at_level(logging.WARNING, "konstruct_memory.api"):
        waits = [rates.admit(tenant, 2) for _ in range(3)]
    assert waits[:2] == [0, 0] and 0 < waits[2] <= 0.5, "the burst of 2, then the rate"
    assert pool.asked == 1, "asked again only after a while, not on every request"
    assert rates.admit(uuid.uuid4(), None) == 0 and pool.asked == 1, "no limit, no question"
    unavailable = [r for r in caplog.records if "shared rate limits unavailable" in r.message]
    assert len(unavailable) == 1 and "PoolTimeout" in unavailable[0].message


def test_the_database_is_asked_again_once_the_while_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tenant_rates, "LOCAL_FOR_S", 0.0)
    pool = UnreachablePool()
    rates = rates_over(pool)
    tenant = uuid.uuid4()
    waits = [rates.admit(tenant, 1) for _ in range(2)]
    assert waits[0] == 0 and 0 < waits[1] <= 1, "the process's own bucket meanwhile"
    assert pool.asked == 2


class ContendedPool:
    """A pool whose tenant's bucket is always locked past the lock timeout."""

    def __init__(self) -> None:
        self.asked = 0

    def connection(self) -> Any:
        self.asked += 1
        raise psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")


def test_a_bucket_locked_past_the_timeout_refuses_without_counting_locally() -> None:
    pool = ContendedPool()
    rates = TenantRates(lambda: cast(ConnectionPool[Connection], pool), Metrics())
    tenant = uuid.uuid4()
    waits = [rates.admit(tenant, 20) for _ in range(3)]
    assert waits == [0.05, 0.05, 0.05], "refused briefly, no burst of the process's own"
    assert pool.asked == 3, "the database is asked again at once: it answers"
