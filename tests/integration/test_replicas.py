"""Read replicas on a real streaming standby (the embedded wheel's pg_basebackup -R): reads go
to the standby, a caller's own writes are always seen, a standby that lags or is down is
skipped, audited reads stay on the primary, and with the primary down reads go on while writes
fail fast."""

from __future__ import annotations

import itertools
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout

from konstruct_memory import consistency
from konstruct_memory.client import Client
from konstruct_memory.config import Settings
from konstruct_memory.db.embedded import EmbeddedServer
from konstruct_memory.library import Memory, TenantMemory
from tests.api import bearer, serving
from tests.conftest import ERASURE_KEY, make_data_dir
from tests.fakes import BagOfWordsEmbedder

AGENT = uuid.uuid4()
MAX_LAG_S = 1.5


@dataclass
class Reads:
    """Where each read ran, as the service reports it to its observer."""

    served: list[str] = field(default_factory=list)

    def embedding(self, seconds: float) -> None:
        pass

    def database(self, seconds: float) -> None:
        pass

    def read_served(self, by: str) -> None:
        self.served.append(by)

    def last(self) -> str:
        return self.served[-1]


@dataclass
class Cluster:
    primary: EmbeddedServer
    standby: EmbeddedServer
    memory: Memory
    reads: Reads

    def standby_sql(self, statement: str) -> Any:
        with psycopg.connect(self.standby.superuser_url(), autocommit=True) as conn:
            return conn.execute(statement).fetchone()

    def caught_up(self, timeout: float = 10.0, memory: Memory | None = None) -> None:
        """Until the monitor (this cluster's memory's, or ``memory``'s: each process has its
        own) has seen the standby replay everything the primary has."""
        replicas = (memory or self.memory).resources.replicas
        assert replicas is not None
        with psycopg.connect(self.primary.superuser_url(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        high, _, low = row[0].partition("/")
        target = (int(high, 16) << 32) + int(low, 16)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replicas.check()
            [state] = replicas.states()
            if state.up and state.replay_lsn is not None and state.replay_lsn >= target:
                return
            time.sleep(0.05)
        log = (self.standby.pgdata / "log").read_text()[-1500:]  # why, in the failure
        raise AssertionError(f"the standby did not catch up: {replicas.states()}\n{log}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    primary_dir, standby_dir = make_data_dir(), make_data_dir()
    primary, standby = EmbeddedServer(primary_dir), EmbeddedServer(standby_dir)
    primary.ensure_running()
    standby.make_standby_of(primary)
    settings = Settings(
        database_url=primary.runtime_url(),
        admin_database_url=primary.admin_url(),
        replica_url=[standby.runtime_url()],
        replica_max_lag_s=MAX_LAG_S,
        replica_wait_s=0.2,
        replica_check_interval_s=0.1,
        erasure_key=ERASURE_KEY,
        failed_auth_burst=1_000_000,
    )
    reads = Reads()
    try:
        with Memory.open(settings, embedder=BagOfWordsEmbedder(), observer=reads) as memory:
            yield Cluster(primary, standby, memory, reads)
    finally:
        for server, directory in ((standby, standby_dir), (primary, primary_dir)):
            server.stop()
            shutil.rmtree(directory, ignore_errors=True)


def said(user: str, content: str) -> dict[str, Any]:
    return {"agent_id": AGENT, "user_id": user, "role": "user", "content": content}


def new_tenant(cluster: Cluster) -> TenantMemory:
    return cluster.memory.tenant(cluster.memory.create_tenant("replicated").id)


def test_reads_go_to_the_standby_and_always_see_the_callers_own_writes(cluster: Cluster) -> None:
    tenant = new_tenant(cluster)
    for n in range(5):
        # Read at once: from the standby if it replayed the write within the wait, else from
        # the primary; never without the write.
        tenant.remember([said("U1", f"fact number {n}")])
        assert len(tenant.history(AGENT, "U1")) == n + 1
        assert tenant.recall(AGENT, "U1", f"fact number {n}", k=1)[0].content == f"fact number {n}"
    cluster.caught_up()
    assert len(tenant.history(AGENT, "U1")) == 5 and cluster.reads.last() == "replica"
    assert len(tenant.recall(AGENT, "U1", "fact", k=10)) == 5 and cluster.reads.last() == "replica"


def test_a_standby_behind_the_callers_write_or_beyond_the_lag_bound_is_skipped(
    cluster: Cluster,
) -> None:
    tenant = new_tenant(cluster)
    tenant.remember([said("U1", "before the pause"), said("U2", "someone else")])
    cluster.caught_up()
    cluster.standby_sql("SELECT pg_wal_replay_pause()")
    try:
        tenant.remember([said("U1", "while replay is paused")])
        # The standby lacks this caller's write: the read waits briefly, then uses the primary;
        # so does a recall across the agent's users, which could see it too.
        assert len(tenant.history(AGENT, "U1")) == 2 and cluster.reads.last() == "primary"
        across = tenant.recall_across_users(AGENT, "while replay is paused", k=1)
        assert across[0].content == "while replay is paused" and cluster.reads.last() == "primary"
        # A scope this process did not write is read from the standby while it is within
        # the lag bound...
        assert len(tenant.history(AGENT, "U2")) == 1 and cluster.reads.last() == "replica"
        # ...and not once it falls behind it (the primary keeps writing meanwhile).
        time.sleep(MAX_LAG_S + 0.5)
        new_tenant(cluster).remember([said("U9", "traffic elsewhere")])
        time.sleep(0.3)
        [state] = cluster.memory.resources.replicas.states()  # type: ignore[union-attr]
        assert state.up and state.lag_s is not None and state.lag_s > MAX_LAG_S
        assert len(tenant.history(AGENT, "U2")) == 1 and cluster.reads.last() == "primary"
    finally:
        cluster.standby_sql("SELECT pg_wal_replay_resume()")
    cluster.caught_up()
    assert len(tenant.history(AGENT, "U1")) == 2 and cluster.reads.last() == "replica"


def test_an_erasure_is_seen_by_every_later_read(cluster: Cluster) -> None:
    tenant = new_tenant(cluster)
    tenant.remember([said("U1", "my secret"), said("U2", "my other secret")])
    cluster.caught_up()
    cluster.standby_sql("SELECT pg_wal_replay_pause()")
    try:
        tenant.erase(user_id="U1")
        assert tenant.history(AGENT, "U1") == [] and cluster.reads.last() == "primary"
        assert [h.user_id for h in tenant.recall_across_users(AGENT, "secret")] == ["U2"]
    finally:
        cluster.standby_sql("SELECT pg_wal_replay_resume()")


def test_audited_reads_stay_on_the_primary(cluster: Cluster) -> None:
    tenant = new_tenant(cluster)
    assert tenant.tenant_id is not None
    cluster.memory.update_tenant(tenant.tenant_id, audit_reads=True)
    [turn] = tenant.remember([said("U1", "audited")])
    cluster.caught_up()
    assert len(tenant.history(AGENT, "U1")) == 1 and cluster.reads.last() == "primary"
    key = cluster.memory.create_api_key(tenant.tenant_id, agent_id=AGENT, scopes=["read"])
    principal = cluster.memory.authenticate(key.api_key)
    assert principal is not None and principal.audit_reads is True
    cluster.memory.acting_as(principal).get_turn(turn.id)
    assert cluster.reads.last() == "primary"
    assert [e.operation for e in tenant.list_audit()] == ["history", "get_turn"]


def test_a_standby_that_is_down_is_skipped_and_a_primary_that_is_down_leaves_reads_on(
    cluster: Cluster,
) -> None:
    memory = cluster.memory
    tenant = new_tenant(cluster)
    assert tenant.tenant_id is not None
    key = memory.create_api_key(tenant.tenant_id, agent_id=AGENT, scopes=["read", "write"])
    tenant.remember([said("U1", "kept on both")])
    cluster.caught_up()

    cluster.standby.stop()
    assert len(tenant.history(AGENT, "U1")) == 1 and cluster.reads.last() == "primary"
    with serving(memory, "replica-admin-token-of-at-least-32-chars") as api:
        health = api.client.get("/healthz").json()
        assert health["status"] == "ok" and health["replicas"][0]["up"] is False
        cluster.standby.ensure_running()
        cluster.caught_up()
        metrics = api.client.get("/metrics").text
        assert 'konstruct_memory_replica_up{replica="127.0.0.1' in metrics
        assert "konstruct_memory_replica_lag_seconds" in metrics

        cluster.primary.stop()
        try:
            memory.resources.replicas.check()  # type: ignore[union-attr]
            headers = bearer(key.api_key)
            params = {"user_id": "U1"}
            read = api.client.get("/v1/history", params=params, headers=headers)
            assert read.status_code == 200, read.text
            assert [t["content"] for t in read.json()["turns"]] == ["kept on both"]
            assert cluster.reads.last() == "replica"
            started = time.monotonic()
            write = api.client.post(
                "/v1/turns",
                json={"turns": [{"user_id": "U1", "role": "user", "content": "lost?"}]},
                headers=headers,
            )
            assert write.status_code == 503 and time.monotonic() - started < 3
            down = api.client.get("/healthz")
            assert down.status_code == 503
            assert "reads are served by replicas: 127.0.0.1" in down.json()["error"]["message"]
        finally:
            cluster.primary.ensure_running()
    cluster.caught_up(timeout=30)
    primary_answers(memory)
    assert len(tenant.history(AGENT, "U1")) == 1


def primary_answers(memory: Memory, timeout: float = 30.0) -> None:
    """Until the primary's pool has a connection again: after a restart it reconnects with
    a back-off, and a read that needs the primary meanwhile times out, as it should."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with memory.resources.pool.connection(timeout=1.0) as conn:
                conn.execute("SELECT 1")
            return
        except (PoolTimeout, psycopg.OperationalError):
            if time.monotonic() > deadline:
                raise


@pytest.fixture
def other_process(cluster: Cluster) -> Iterator[tuple[Memory, Reads]]:
    """A second process of the service over the same primary and standby: its own pools,
    replica monitor and record of write positions."""
    reads = Reads()
    settings = cluster.memory.settings
    with Memory.open(settings, embedder=BagOfWordsEmbedder(), observer=reads) as memory:
        yield memory, reads


def alternating(*apps: TestClient) -> httpx.MockTransport:
    """A load balancer: each request to the next app in turn."""
    turn = itertools.cycle(apps)

    def forward(request: httpx.Request) -> httpx.Response:
        answer = next(turn).request(
            request.method, str(request.url), content=request.content, headers=request.headers
        )
        return httpx.Response(
            answer.status_code, headers=list(answer.headers.items()), content=answer.content
        )

    return httpx.MockTransport(forward)


def test_a_write_through_one_process_is_seen_through_another_carrying_its_position(
    cluster: Cluster, other_process: tuple[Memory, Reads]
) -> None:
    other, other_reads = other_process
    tenant = new_tenant(cluster)
    assert tenant.tenant_id is not None
    key = cluster.memory.create_api_key(tenant.tenant_id, agent_id=AGENT).api_key
    tenant.remember([said("U1", "before the pause")])
    cluster.caught_up()
    cluster.caught_up(memory=other)
    admin = "replica-admin-token-of-at-least-32-chars"

    def contents(answer: httpx.Response) -> list[str]:
        assert answer.status_code == 200, answer.text
        return [turn["content"] for turn in answer.json()["turns"]]

    cluster.standby_sql("SELECT pg_wal_replay_pause()")
    try:
        with serving(cluster.memory, admin) as a, serving(other, admin) as b:
            turn = {"user_id": "U1", "role": "user", "content": "while replay is paused"}
            wrote = a.client.post("/v1/turns", json={"turns": [turn]}, headers=bearer(key))
            assert wrote.status_code == 201
            position = wrote.headers[consistency.HEADER]
            history = {"params": {"user_id": "U1"}}
            # Without the token, B answers from the standby, within the lag bound: A's write
            # is not there yet.
            blind = b.client.get("/v1/history", headers=bearer(key), **history)
            assert contents(blind) == ["before the pause"] and other_reads.last() == "replica"
            # With it, B reads where the write is.
            token = {**bearer(key), consistency.HEADER: position}
            seen = b.client.get("/v1/history", headers=token, **history)
            assert contents(seen) == ["before the pause", "while replay is paused"]
            assert other_reads.last() == "primary"
            # The library: B's tenant told of A's position.
            on_b = other.tenant(tenant.tenant_id)
            assert len(on_b.history(AGENT, "U1")) == 1 and other_reads.last() == "replica"
            on_b.observe(position)
            assert len(on_b.history(AGENT, "U1")) == 2 and other_reads.last() == "primary"
            # The client behind a load balancer: its write lands on one process, its reads
            # on the other, and it sees its write on each.
            with Client("http://lb", key, transport=alternating(a.client, b.client)) as client:
                client.remember([said("U2", "through the balancer")])
                for _ in range(2):
                    assert [t.content for t in client.history(AGENT, "U2")] == [
                        "through the balancer"
                    ]
    finally:
        cluster.standby_sql("SELECT pg_wal_replay_resume()")
    cluster.caught_up(memory=other)  # B's monitor, which routes B's reads
    # Once the standby has replayed it, the position sends reads there again.
    on_b.history(AGENT, "U1")
    assert other_reads.last() == "replica"
