"""Reliability suite: the service under faults, overload and attack, as a separate process.

    python bench/reliability.py            # about 5 minutes; prints one table
    python bench/reliability.py overload   # only the scenarios named

On a fresh embedded PostgreSQL with the local model, ``konstruct-memory serve`` (defaults) is:

1. killed with -9 during an ingest (batches with ids the client chose), restarted, and the
   acknowledged turns are counted: lost, duplicated;
2. left running while its PostgreSQL is killed with -9: time until /healthz answers 200 again,
   how requests fail meanwhile, acknowledged turns lost;
3. overloaded by 50 and then 200 concurrent recall clients: accepted p50/p99, rejections and
   how fast they come, /healthz latency under load, the server's RSS;
4. flooded with 500 connections that send half a request: normal requests meanwhile, and
   whether the stalled ones are dropped;
5. attacked from another tenant: requests of every route with a foreign key, counting foreign
   rows returned and 5xx answers;
6. held by one tenant's read-only key: event streams asked of /mcp, bodies at a byte a second,
   answers never read, slow recalls, while another tenant's recalls are timed
   (``held_connections.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from held_connections import held_connections

ADMIN = "reliability-admin-token-0123456789abcdef"
VICTIMS_TURN = "the vault code is 7319"
Row = tuple[str, str]


class Service:
    """``konstruct-memory serve`` on its own data directory, started and killed at will."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="km-reliability-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = os.environ | {
            "KONSTRUCT_MEMORY_DATA_DIR": str(self.data_dir),
            "KONSTRUCT_MEMORY_ADMIN_TOKEN": ADMIN,
            # The attack phase measures isolation: its refused admin calls must not get every
            # later request from this address throttled (the throttle has tests of its own).
            "KONSTRUCT_MEMORY_FAILED_AUTH_BURST": "1000000",
        }
        self.env.pop("KONSTRUCT_MEMORY_DATABASE_URL", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "konstruct_memory", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_healthy(120)
        return time.monotonic() - started

    def wait_healthy(self, seconds: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the service did not become healthy")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def rss_mib(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def postgres_pid(self) -> int:
        return int((self.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)
        subprocess.run(
            [sys.executable, "-m", "konstruct_memory", "server", "stop"],
            env=self.env,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.data_dir, ignore_errors=True)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def turn(agent: str, user: str, content: str, turn_id: str | None = None) -> dict[str, Any]:
    body = {"agent_id": agent, "user_id": user, "role": "user", "content": content}
    return body | ({"id": turn_id} if turn_id else {})


def stored_ids(service: Service, key: str, agent: str, user: str) -> list[str]:
    """Every turn id of (agent, user), paging back through history."""
    ids: list[str] = []
    before = None
    while True:
        params = {"agent_id": agent, "user_id": user, "limit": 1000}
        params |= {"before": before} if before else {}
        page = httpx.get(f"{service.base}/v1/history", params=params, headers=bearer(key))
        turns = page.json()["turns"]
        ids = [t["id"] for t in turns] + ids
        if len(turns) < 1000:
            return ids
        before = turns[0]["id"]


def ingest_until(
    service: Service, key: str, agent: str, user: str, stop: threading.Event
) -> tuple[list[str], list[list[str]]]:
    """Batches of 20 turns until ``stop`` or a transport error: (acknowledged ids, batches
    sent without an answer)."""
    acknowledged: list[str] = []
    unanswered: list[list[str]] = []
    n = 0
    with httpx.Client(base_url=service.base, headers=bearer(key), timeout=30) as client:
        while not stop.is_set():
            ids = [str(uuid.uuid4()) for _ in range(20)]
            batch = [turn(agent, user, f"ingested turn {n + i}", id_) for i, id_ in enumerate(ids)]
            n += len(ids)
            try:
                answer = client.post("/v1/turns", json={"turns": batch})
            except httpx.TransportError:
                unanswered.append(ids)
                return acknowledged, unanswered
            if answer.status_code == 201:
                acknowledged += ids
    return acknowledged, unanswered


def kill_serve_during_ingest(service: Service, key: str, rows: list[Row]) -> None:
    agent, stop = str(uuid.uuid4()), threading.Event()
    result: list[tuple[list[str], list[list[str]]]] = []
    writer = threading.Thread(
        target=lambda: result.append(ingest_until(service, key, agent, "U1", stop))
    )
    writer.start()
    time.sleep(8)
    service.kill()
    writer.join()
    restart = service.start()
    acknowledged, unanswered = result[0]
    for ids in unanswered:  # the client's retry of what got no answer: same ids
        retry = [turn(agent, "U1", "retried", i) for i in ids]
        httpx.post(f"{service.base}/v1/turns", json={"turns": retry}, headers=bearer(key))
    stored = stored_ids(service, key, agent, "U1")
    lost = len(set(acknowledged) - set(stored))
    duplicated = len(stored) - len(set(stored))
    rows.append(
        (
            "kill -9 of serve during ingest",
            f"{len(acknowledged)} acknowledged turns: {lost} lost, {duplicated} duplicated; "
            f"restarted in {restart:.1f} s",
        )
    )


def kill_postgres(service: Service, key: str, rows: list[Row]) -> None:
    agent, stop = str(uuid.uuid4()), threading.Event()
    result: list[tuple[list[str], list[list[str]]]] = []
    statuses: list[tuple[int, float]] = []
    writer = threading.Thread(
        target=lambda: result.append(ingest_until(service, key, agent, "U1", stop))
    )
    writer.start()
    time.sleep(3)
    os.kill(service.postgres_pid(), signal.SIGKILL)
    killed = time.monotonic()
    while time.monotonic() - killed < 60:
        started = time.monotonic()
        try:
            answer = httpx.get(f"{service.base}/healthz", timeout=5)
        except httpx.TransportError:
            continue
        statuses.append((answer.status_code, time.monotonic() - started))
        if answer.status_code == 200:
            break
        time.sleep(0.05)
    healthy = time.monotonic() - killed
    time.sleep(2)
    stop.set()
    writer.join()
    acknowledged, _ = result[0]
    stored = set(stored_ids(service, key, agent, "U1"))
    failing = [seconds for status, seconds in statuses if status != 200]
    slowest = max(failing) * 1000 if failing else 0.0
    rows.append(
        (
            "kill -9 of PostgreSQL",
            f"healthy again after {healthy:.1f} s; {len(failing)} health checks answered 503 "
            f"meanwhile (slowest {slowest:.0f} ms); {len(acknowledged)} acknowledged turns, "
            f"{len(set(acknowledged) - stored)} lost",
        )
    )


class RawClient:
    """One keep-alive HTTP/1.1 connection over asyncio streams: far cheaper per request than
    httpx, so 200 of them leave the two cores to the server being measured."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            close = close or (name.lower() == "connection" and "close" in value.lower())
        await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.writer = None
        return status


async def overload(service: Service, key: str, clients: int, seconds: float) -> dict[str, Any]:
    accepted: list[float] = []
    rejected: list[float] = []
    other: list[int] = []
    health: list[float] = []
    peak_rss = service.rss_mib()
    deadline = time.monotonic() + seconds

    async def client(n: int) -> None:
        connection = RawClient(service.port, key)
        body = json.dumps(
            {"agent_id": AGENT_OF_LOAD, "user_id": f"U{n % 20}", "query": f"topic {n}"}
        ).encode()
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status = await connection.request("POST", "/v1/recall", body)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                connection = RawClient(service.port, key)
                other.append(0)
                continue
            elapsed = time.monotonic() - started
            if status == 200:
                accepted.append(elapsed)
            elif status in (429, 503):
                rejected.append(elapsed)
                await asyncio.sleep(1.0)  # Retry-After: 1
            else:
                other.append(status)

    async def watch() -> None:
        nonlocal peak_rss
        connection = RawClient(service.port, key)
        while time.monotonic() < deadline:
            started = time.monotonic()
            await connection.request("GET", "/healthz")
            health.append(time.monotonic() - started)
            peak_rss = max(peak_rss, service.rss_mib())
            await asyncio.sleep(0.5)

    await asyncio.gather(watch(), *(client(n) for n in range(clients)))
    return {
        "accepted": accepted,
        "rejected": rejected,
        "other": other,
        "health": health,
        "rss": peak_rss,
    }


AGENT_OF_LOAD = str(uuid.uuid4())


def ms(samples: list[float], q: float) -> str:
    if not samples:
        return "-"
    ordered = sorted(samples)
    return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.0f}"


def overload_rows(service: Service, key: str, rows: list[Row]) -> None:
    seed = [turn(AGENT_OF_LOAD, f"U{i % 20}", f"topic {i} was discussed") for i in range(400)]
    httpx.post(f"{service.base}/v1/turns", json={"turns": seed}, headers=bearer(key), timeout=120)
    before = service.rss_mib()
    for clients in (50, 200):
        got = asyncio.run(overload(service, key, clients, seconds=20))
        accepted, rejected = got["accepted"], got["rejected"]
        rows.append(
            (
                f"overload: {clients} concurrent recall clients, 20 s",
                f"{len(accepted)} accepted (p50 {ms(accepted, 0.5)} ms, p99 "
                f"{ms(accepted, 0.99)} ms); {len(rejected)} refused with 429/503 (p50 "
                f"{ms(rejected, 0.5)} ms, p99 {ms(rejected, 0.99)} ms); {len(got['other'])} "
                f"other; /healthz max {ms(got['health'], 1.0)} ms; RSS {before:.0f} -> peak "
                f"{got['rss']:.0f} MiB",
            )
        )


def stalled_flood(service: Service, key: str, rows: list[Row]) -> None:
    sockets = []
    for _ in range(500):
        sock = socket.create_connection(("127.0.0.1", service.port))
        sock.sendall(b"POST /v1/recall HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n")
        sockets.append(sock)
    body = {"agent_id": AGENT_OF_LOAD, "user_id": "U1", "query": "topic"}
    latencies = []
    for _ in range(20):
        started = time.monotonic()
        answer = httpx.post(f"{service.base}/v1/recall", json=body, headers=bearer(key))
        assert answer.status_code == 200, answer.text
        latencies.append(time.monotonic() - started)
    time.sleep(12)  # past the 10 s request deadline
    dropped = 0
    for sock in sockets:
        sock.settimeout(0.5)
        with contextlib.suppress(TimeoutError, OSError):
            dropped += sock.recv(1) == b""
        sock.close()
    rows.append(
        (
            "500 stalled connections (half a request each)",
            f"20 normal recalls meanwhile, all 200 (median {ms(latencies, 0.5)} ms, max "
            f"{ms(latencies, 1.0)} ms); {dropped} of 500 stalled connections dropped after 12 s",
        )
    )


def attack(service: Service, victim: str, attacker: str, rows: list[Row]) -> None:
    agent = str(uuid.uuid4())
    httpx.post(
        f"{service.base}/v1/turns",
        json={"turns": [turn(agent, "U1", VICTIMS_TURN)]},
        headers=bearer(victim),
    )
    victim_tenant = httpx.get(f"{service.base}/v1/whoami", headers=bearer(victim)).json()
    tenant_id = victim_tenant["tenant_id"]
    where = {"agent_id": agent, "user_id": "U1"}
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/recall", {"json": {**where, "query": "vault code"}}),
        ("POST", "/v1/recall/across-users", {"json": {"agent_id": agent, "query": "vault"}}),
        ("GET", "/v1/history", {"params": where}),
        ("POST", "/v1/context", {"json": {**where, "query": "vault"}}),
        ("POST", "/v1/recall", {"json": {**where, "query": "vault", "tenant_id": tenant_id}}),
        ("GET", "/v1/history", {"params": {**where, "tenant_id": tenant_id}}),
        ("GET", "/v1/audit", {}),
        ("GET", "/v1/erasures", {}),
        ("POST", "/v1/erasures", {"json": {"user_id": "U1"}}),
        ("GET", f"/v1/tenants/{tenant_id}/api-keys", {}),
        ("GET", f"/v1/tenants/{tenant_id}/audit", {}),
        ("PATCH", f"/v1/tenants/{tenant_id}", {"json": {"retention_days": 1}}),
    ]
    foreign = server_errors = total = 0
    with httpx.Client(base_url=service.base, headers=bearer(attacker), timeout=30) as client:
        for _ in range(150):
            for method, path, arguments in attempts:
                answer = client.request(method, path, **arguments)
                total += 1
                foreign += VICTIMS_TURN in answer.text or "vault code" in answer.text
                server_errors += answer.status_code >= 500
    still = httpx.get(f"{service.base}/v1/history", params=where, headers=bearer(victim))
    rows.append(
        (
            "cross-tenant attack (another tenant's key, every route)",
            f"{total} requests: {foreign} answers with a foreign row, {server_errors} 5xx; the "
            f"victim's turn {'still there' if VICTIMS_TURN in still.text else 'GONE'}",
        )
    )


def main() -> None:
    only = set(sys.argv[1:])  # e.g. `overload`: run only the scenarios named
    service = Service()
    rows: list[Row] = []
    try:
        first_start = service.start()
        admin = bearer(ADMIN)
        victim = httpx.post(f"{service.base}/v1/tenants", json={"name": "v"}, headers=admin)
        attacker = httpx.post(f"{service.base}/v1/tenants", json={"name": "a"}, headers=admin)
        key, other = victim.json()["api_key"], attacker.json()["api_key"]
        print(f"serve started in {first_start:.1f} s (embedded PostgreSQL, local model)")
        scenarios = {
            "ingest": lambda: kill_serve_during_ingest(service, key, rows),
            "postgres": lambda: kill_postgres(service, key, rows),
            "overload": lambda: overload_rows(service, key, rows),
            "stalled": lambda: stalled_flood(service, key, rows),
            "attack": lambda: attack(service, key, other, rows),
            "held": lambda: held_connections(service.base, service.port, ADMIN, rows),
        }
        for name, scenario in scenarios.items():
            if not only or name in only:
                scenario()
    finally:
        service.close()
    width = max(len(name) for name, _ in rows)
    print(f"\n| {'scenario':{width}} | result |\n|{'-' * (width + 2)}|---|")
    for name, result in rows:
        print(f"| {name:{width}} | {result} |")


if __name__ == "__main__":
    main()
