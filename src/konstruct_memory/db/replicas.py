"""Streaming read replicas: which one may serve a read, and what each one is doing.

A monitor thread samples the primary's WAL position and each replica's replay position every
``replica_check_interval_s``. A replica's lag is the age of the newest primary sample it has
replayed (so an idle primary means no lag, and the figure is accurate to one interval). Reads
go to a replica that is up, still in recovery and within ``replica_max_lag_s``; otherwise to
the primary. While the primary does not answer, any replica that is up serves reads, however
far behind: stale answers beat none, and writes fail fast meanwhile.

Read-your-writes: after a write commits, the primary's WAL position is recorded for the scope
written (``WritePositions``). A read of that scope, until every replica within the lag bound
must have replayed it, waits up to ``replica_wait_s`` for the chosen replica to replay that
position and otherwise reads from the primary. Those positions live in this process; a caller
whose write went through another process or host carries the write's position with the read
instead (``consistency``: the ``Konstruct-Memory-Position`` header), which waits the same way.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from konstruct_memory.config import Settings
from konstruct_memory.consistency import lsn_of
from konstruct_memory.db.tenant import Connection, create_pool

_POSITION = "SELECT pg_current_wal_lsn()::text AS lsn"
_REPLAY = "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS lsn"
_POLL_S = 0.005
# Written scopes of a tenant that reads beyond one (agent, user) must also wait for.
ANY_SCOPE = "*"  # any write of the tenant: reads by id and scope listings
ERASED = "!"  # erasures, which remove turns of every scope they name


def describe(url: str) -> str:
    """host:port/database of a URL, without the credentials (for metrics and /healthz)."""
    params = conninfo_to_dict(url)
    return (
        f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    )


@dataclass(frozen=True)
class ReplicaState:
    name: str
    up: bool = False
    lag_s: float | None = None
    replay_lsn: int | None = None
    problem: str | None = None


class WritePositions:
    """The primary's WAL position after recent writes, per written scope, while a replica
    within the lag bound could still lack them."""

    def __init__(self, horizon_s: float, limit: int = 100_000) -> None:
        self.horizon_s = horizon_s
        self.limit = limit
        self._lock = threading.Lock()
        self._positions: dict[tuple[UUID, object, object], tuple[int, float]] = {}

    def record(self, tenant: UUID, scopes: Sequence[tuple[object, object]], lsn: int) -> None:
        """After a write to (agent, user) scopes: reads of those users, of their agents across
        users, and of the tenant at large (by id, scope listings) must see it."""
        now = time.monotonic()
        keys = {(ANY_SCOPE, None), *scopes, *((agent, None) for agent, _ in scopes)}
        with self._lock:
            for agent, user in keys:
                self._positions[(tenant, agent, user)] = (lsn, now)
            if len(self._positions) > self.limit:
                self._forget_before(now - self.horizon_s)

    def needed(self, tenant: UUID, agent: UUID | None, user: str | None) -> int | None:
        """The position a read of (agent, user) must see: the newest write it could observe."""
        keys: list[tuple[UUID, object, object]] = [(tenant, ERASED, None)]
        if agent is None:
            keys.append((tenant, ANY_SCOPE, None))
        else:
            keys.append((tenant, agent, user))
        cutoff = time.monotonic() - self.horizon_s
        with self._lock:
            found = [self._positions.get(key) for key in keys]
        return max((lsn for lsn, at in filter(None, found) if at >= cutoff), default=None)

    def _forget_before(self, cutoff: float) -> None:
        kept = {k: v for k, v in self._positions.items() if v[1] >= cutoff}
        if len(kept) > self.limit:  # all recent: keep the newest half (their reads wait most)
            newest = sorted(kept.items(), key=lambda item: item[1][1])[-self.limit // 2 :]
            kept = dict(newest)
        self._positions = kept


class Replica:
    """One replica: a pool for reads, and the monitor's own connection to it (so that the
    monitor sees a replica come back at once, whatever the pool's reconnection back-off)."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.name = describe(url)
        self.settings = settings
        self.pool = self._new_pool()
        self.state = ReplicaState(self.name, problem="not checked yet")
        self._monitor_conn: psycopg.Connection[Any] | None = None

    def _new_pool(self) -> ConnectionPool[Connection]:
        return create_pool(
            self.url,
            min_size=0,
            max_size=self.settings.pool_max_size,
            timeout=self.settings.pool_timeout,
            wait=False,  # a replica down at start is reported, not fatal
            check=True,  # a replica restarted since is found out before a read, not during
        )

    def replayed(self, conn: psycopg.Connection[Any]) -> int | None:
        """Its replay position, or None if it is not (or no longer) a standby."""
        row = conn.execute(_REPLAY).fetchone()
        if row is None:
            return None
        standby, lsn = (row["standby"], row["lsn"]) if isinstance(row, dict) else row
        return lsn_of(lsn) if standby else None

    def sample(self) -> int | None:
        """The replay position through the monitor's connection (reconnecting if needed)."""
        if self._monitor_conn is None or self._monitor_conn.closed:
            self._monitor_conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
        try:
            return self.replayed(self._monitor_conn)
        except psycopg.Error:
            self._monitor_conn.close()
            raise

    def came_back(self) -> None:
        """Up again after being down: a fresh pool, free of the old one's back-off."""
        old, self.pool = self.pool, self._new_pool()
        old.close(timeout=0)

    def close(self) -> None:
        if self._monitor_conn is not None:
            self._monitor_conn.close()
        self.pool.close()


class ReplicaSet:
    """The configured replicas, their monitor, and the choice of one for a read."""

    def __init__(self, primary: ConnectionPool[Connection], settings: Settings) -> None:
        self.primary = primary
        self.settings = settings
        self.replicas = [Replica(url, settings) for url in settings.replica_url]
        interval = settings.replica_check_interval_s
        self.positions = WritePositions(settings.replica_max_lag_s + 2 * interval)
        self.primary_up = True
        self._samples: deque[tuple[float, int]] = deque()
        self._turn = itertools.count()
        self._stop = threading.Event()
        self.check()
        self._monitor = threading.Thread(target=self._watch, name="konstruct-replicas", daemon=True)
        self._monitor.start()

    # -- choosing ----------------------------------------------------------------------------

    @contextmanager
    def connection(self, needed: int | None) -> Iterator[Connection | None]:
        """A replica's connection fit for a read that must see ``needed`` (a WAL position),
        or None: read from the primary. A connection that fails marks its replica down."""
        for replica in self._candidates():
            try:
                conn = replica.pool.getconn()
            except (PoolTimeout, psycopg.OperationalError) as exc:
                self._down(replica, exc)
                continue
            try:
                fit = self._caught_up(replica, conn, needed)
            except psycopg.OperationalError as exc:
                replica.pool.putconn(conn)
                self._down(replica, exc)
                continue
            if not fit:  # behind this caller's own write: the primary has it
                replica.pool.putconn(conn)
                break
            try:
                yield conn
            except psycopg.OperationalError as exc:
                self._down(replica, exc)
                raise
            finally:
                replica.pool.putconn(conn)
            return
        yield None

    def _candidates(self) -> list[Replica]:
        bound = self.settings.replica_max_lag_s
        usable = [
            r
            for r in self.replicas
            if r.state.up
            and (not self.primary_up or (r.state.lag_s is not None and r.state.lag_s <= bound))
        ]
        if not usable:
            return []
        start = next(self._turn) % len(usable)
        return usable[start:] + usable[:start]

    def _caught_up(self, replica: Replica, conn: Connection, needed: int | None) -> bool:
        """Whether the replica has replayed ``needed``, waiting up to replica_wait_s."""
        if needed is None or not self.primary_up:
            return True
        if replica.state.replay_lsn is not None and replica.state.replay_lsn >= needed:
            return True
        deadline = time.monotonic() + self.settings.replica_wait_s
        while True:
            replayed = replica.replayed(conn)
            if replayed is not None and replayed >= needed:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)

    def _down(self, replica: Replica, exc: BaseException) -> None:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        replica.state = ReplicaState(replica.name, up=False, problem=reason)

    # -- watching ----------------------------------------------------------------------------

    def check(self) -> None:
        """Sample the primary, then every replica (the monitor's step; callable at will)."""
        now = time.monotonic()
        primary_lsn = self._primary_position()
        if primary_lsn is not None:
            self._samples.append((now, primary_lsn))
            horizon = 4 * self.settings.replica_max_lag_s + self.settings.replica_check_interval_s
            while len(self._samples) > 2 and self._samples[0][0] < now - horizon:
                self._samples.popleft()
        for replica in self.replicas:
            replica.state = self._sample(replica, now)

    def _primary_position(self) -> int | None:
        try:
            with self.primary.connection(timeout=self.settings.pool_timeout) as conn:
                row = conn.execute(_POSITION).fetchone()
        except (PoolTimeout, psycopg.Error):
            self.primary_up = False
            return None
        self.primary_up = True
        return lsn_of(row["lsn"]) if row is not None else None

    def _sample(self, replica: Replica, now: float) -> ReplicaState:
        try:
            replayed = replica.sample()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return ReplicaState(replica.name, up=False, problem=reason)
        if not replica.state.up and replica.state.problem != "not checked yet":
            replica.came_back()
        if replayed is None:
            # Promoted, or never a standby: its writes would diverge from the primary's.
            return ReplicaState(replica.name, up=False, problem="not in recovery")
        return ReplicaState(
            replica.name, up=True, lag_s=self._lag(replayed, now), replay_lsn=replayed
        )

    def _lag(self, replayed: int, now: float) -> float | None:
        """Age of the newest primary sample the replica has replayed; the oldest kept sample's
        age (a lower bound) if it has replayed none of them."""
        if not self._samples:
            return None
        for at, lsn in reversed(self._samples):
            if lsn <= replayed:
                return now - at if at < now else 0.0
        return now - self._samples[0][0]

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.replica_check_interval_s):
            self.check()

    def states(self) -> list[ReplicaState]:
        return [replica.state for replica in self.replicas]

    def authenticating_pool(self) -> ConnectionPool[Connection] | None:
        """A replica's pool to authenticate on while the primary does not answer."""
        up = [r for r in self.replicas if r.state.up]
        return up[0].pool if up else None

    def close(self) -> None:
        self._stop.set()
        self._monitor.join(timeout=5)
        for replica in self.replicas:
            replica.close()


def position_after_commit(conn: Connection) -> int | None:
    """The primary's WAL position now: at or past the commit this connection just made."""
    row: dict[str, Any] | None = conn.execute(_POSITION).fetchone()
    return lsn_of(row["lsn"]) if row is not None else None
