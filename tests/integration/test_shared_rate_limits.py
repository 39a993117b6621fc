"""The shared token buckets of migration 016: their arithmetic on the database's clock, a
refusal that writes nothing, tenants without a limit that never reach the table, a process
that remembers a refusal instead of asking again, and, from the attacker's side, a tenant's
transaction that cannot read or change another tenant's bucket."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import errors
from psycopg_pool import ConnectionPool

from konstruct_memory.api.observability import Metrics
from konstruct_memory.api.tenant_rates import TenantRates
from konstruct_memory.db.tenant import Connection, tenant_transaction
from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app
from konstruct_memory.store.rate_buckets import take_token
from tests.api import bearer
from tests.conftest import DatabaseUnderTest
from tests.rows import tenant_connection

ADMIN = bearer("b" * 40)


def take(pool: ConnectionPool[Connection], tenant: UUID, rate: float, burst: float) -> float:
    with tenant_transaction(pool, tenant) as tx:
        answer = take_token(tx, rate, burst)
    return answer.seconds_to_wait()


def bucket(database: DatabaseUnderTest, tenant: UUID) -> tuple[float, Any] | None:
    """(tokens, updated_at) as a superuser sees them (row-level security binds even the
    owner), or None: no row."""
    with psycopg.connect(database.superuser_url) as conn:
        row = conn.execute(
            "SELECT tokens, updated_at FROM rate_buckets WHERE tenant_id = %s", [tenant]
        ).fetchone()
    return (row[0], row[1]) if row else None


def set_bucket(database: DatabaseUnderTest, tenant: UUID, tokens: float, age_s: float) -> None:
    """Write the bucket as if it was last updated ``age_s`` seconds ago: refills are then
    known without waiting."""
    with psycopg.connect(database.superuser_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE rate_buckets SET tokens = %s, "
            "updated_at = clock_timestamp() - make_interval(secs => %s) WHERE tenant_id = %s",
            [tokens, age_s, tenant],
        )


def test_a_bucket_starts_full_spends_its_burst_and_refills_at_its_rate(
    database: DatabaseUnderTest,
    pool: ConnectionPool[Connection],
    new_tenant: Callable[[], UUID],
) -> None:
    tenant = new_tenant()
    assert bucket(database, tenant) is None
    waits = [take(pool, tenant, rate=1, burst=3) for _ in range(4)]
    assert waits[:3] == [0, 0, 0]
    # Three spent: less than one token is back, and its wait is what is missing of it.
    assert 0.5 < waits[3] <= 1
    state = bucket(database, tenant)
    assert state is not None and state[0] < 1

    before = bucket(database, tenant)
    assert take(pool, tenant, rate=1, burst=3) > 0
    assert bucket(database, tenant) == before, "a refusal writes nothing"

    set_bucket(database, tenant, tokens=0, age_s=0.25)  # 2.5 tokens back at 10/s
    assert take(pool, tenant, rate=10, burst=3) == 0
    state = bucket(database, tenant)
    assert state is not None and 1.5 <= state[0] <= 2

    set_bucket(database, tenant, tokens=0, age_s=3600)  # refilled to the burst, not beyond
    assert take(pool, tenant, rate=10, burst=3) == 0
    state = bucket(database, tenant)
    assert state is not None and state[0] == 2

    set_bucket(database, tenant, tokens=2, age_s=0)  # a lowered limit: clamped to its burst
    assert take(pool, tenant, rate=1, burst=1) == 0
    assert take(pool, tenant, rate=1, burst=1) > 0.5


def test_a_tenant_without_a_limit_never_reaches_the_table(
    memory: Memory, database: DatabaseUnderTest
) -> None:
    app = create_app(memory.settings, memory=memory, admin_token="b" * 40)
    with TestClient(app, raise_server_exceptions=False) as client:
        limited = client.post("/v1/tenants", json={"name": "limited"}, headers=ADMIN).json()
        free = client.post("/v1/tenants", json={"name": "free"}, headers=ADMIN).json()
        client.patch(f"/v1/tenants/{limited['id']}", json={"rate_limit_per_s": 1000}, headers=ADMIN)
        for _ in range(5):
            assert client.get("/v1/whoami", headers=bearer(free["api_key"])).status_code == 200
        for _ in range(3):
            assert client.get("/v1/whoami", headers=bearer(limited["api_key"])).status_code == 200
        metrics = client.get("/metrics").text
    assert bucket(database, UUID(free["id"])) is None
    assert bucket(database, UUID(limited["id"])) is not None
    checks = re.search(r'konstruct_memory_rate_checks_total\{checked="shared"\} (\S+)', metrics)
    assert checks is not None and float(checks[1]) == 3, "one check per limited request only"


def test_a_process_remembers_a_refusal_and_a_changed_limit_asks_again(
    database: DatabaseUnderTest,
    pool: ConnectionPool[Connection],
    new_tenant: Callable[[], UUID],
) -> None:
    tenant = new_tenant()
    metrics = Metrics()
    rates = TenantRates(lambda: pool, metrics)
    assert rates.admit(tenant, 0.1) == 0  # the burst of one
    refused = rates.admit(tenant, 0.1)
    assert 9 < refused <= 10, "a token every ten seconds"
    asked = bucket(database, tenant)
    # Within the ten seconds no process can get a token: this one refuses without asking.
    assert 0 < rates.admit(tenant, 0.1) <= refused
    set_bucket(database, tenant, tokens=5, age_s=0)  # would admit, if it were asked
    assert rates.admit(tenant, 0.1) > 0
    assert counted(metrics) == {"shared": 2, "known_refusal": 2}
    assert asked is not None
    # Another limit: the remembered refusal was about the old one.
    assert rates.admit(tenant, 50) == 0
    assert counted(metrics)["shared"] == 3


def counted(metrics: Metrics) -> dict[str, float]:
    return {
        sample.labels["checked"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "konstruct_memory_rate_checks"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


@pytest.fixture
def two_buckets(
    database: DatabaseUnderTest,
    pool: ConnectionPool[Connection],
    new_tenant: Callable[[], UUID],
) -> Iterator[tuple[UUID, UUID]]:
    mine, theirs = new_tenant(), new_tenant()
    take(pool, mine, rate=5, burst=5)
    take(pool, theirs, rate=5, burst=5)
    before = bucket(database, theirs)
    yield mine, theirs
    assert bucket(database, theirs) == before, "the other tenant's bucket is untouched"


def test_a_tenant_sees_only_its_own_bucket(
    pool: ConnectionPool[Connection], two_buckets: tuple[UUID, UUID]
) -> None:
    mine, theirs = two_buckets
    with tenant_connection(pool, mine) as conn:
        seen = [row["tenant_id"] for row in conn.execute("SELECT tenant_id FROM rate_buckets")]
        assert seen == [mine]
        named = conn.execute(
            "SELECT count(*) AS n FROM rate_buckets WHERE tenant_id = %s", [theirs]
        ).fetchone()
        assert named is not None and named["n"] == 0
        changed = conn.execute(
            "UPDATE rate_buckets SET tokens = 1000000 WHERE tenant_id = %s", [theirs]
        )
        assert changed.rowcount == 0


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        # Another tenant's row, new or moved into: the policy's WITH CHECK refuses it.
        (
            "INSERT INTO rate_buckets (tenant_id, tokens, updated_at) "
            "VALUES ('{theirs}', 1000000, now())",
            errors.InsufficientPrivilege,
        ),
        (
            "INSERT INTO rate_buckets (tenant_id, tokens, updated_at) "
            "VALUES ('{theirs}', 1000000, now()) "
            "ON CONFLICT (tenant_id) DO UPDATE SET tokens = 1000000",
            errors.InsufficientPrivilege,
        ),
        ("UPDATE rate_buckets SET tenant_id = '{theirs}'", errors.InsufficientPrivilege),
        ("DELETE FROM rate_buckets", errors.InsufficientPrivilege),
        ("TRUNCATE rate_buckets", errors.InsufficientPrivilege),
        ("ALTER TABLE rate_buckets NO FORCE ROW LEVEL SECURITY", errors.InsufficientPrivilege),
        ("DROP POLICY tenant_isolation ON rate_buckets", errors.InsufficientPrivilege),
    ],
)
def test_a_tenant_cannot_change_another_tenants_bucket(
    pool: ConnectionPool[Connection],
    two_buckets: tuple[UUID, UUID],
    statement: str,
    refusal: type[Exception],
) -> None:
    mine, theirs = two_buckets
    with pytest.raises(refusal), tenant_connection(pool, mine) as conn:
        conn.execute(statement.format(theirs=theirs).encode())


def test_without_a_tenant_no_token_is_taken(pool: ConnectionPool[Connection]) -> None:
    with (
        pool.connection() as conn,
        pytest.raises(errors.InsufficientPrivilege, match="no tenant"),
    ):
        conn.execute("SELECT konstruct_take_rate_token(5, 5)")


def test_a_bucket_goes_with_its_tenant(
    database: DatabaseUnderTest, pool: ConnectionPool[Connection]
) -> None:
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO tenants (name) VALUES (%s) RETURNING id", [f"gone-{uuid.uuid4()}"]
        ).fetchone()
        assert row is not None
        take(pool, row[0], rate=1, burst=1)
        conn.execute("DELETE FROM tenants WHERE id = %s", [row[0]])
    assert bucket(database, row[0]) is None
