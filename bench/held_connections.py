"""The long-lived-connection attack, for ``bench/reliability.py`` (scenario ``held``).

One tenant's read-only key bound to one agent holds whatever can stream or wait, on a bounded
number of connections to 127.0.0.1 for a bounded time:

* ``GET /mcp`` and ``DELETE /mcp`` asking for an event stream, reopened whenever answered;
* bodies that never finish, one byte a second, on ``POST /v1/recall`` and ``POST /mcp``;
* answers that are never read: ``GET /v1/history`` of 300 turns of 30 kB, on sockets with a
  4 kB receive buffer;
* slow recalls: recall across the agent's users with ``k`` 100, back to back.

Meanwhile another tenant's recalls are timed one after another. Reported: what each kind of
held connection got (an answer's status; ``dropped`` when the server closed it unanswered;
``held`` when it was still open at the end), and the other tenant's statuses, p50 and p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections import Counter

import httpx

Row = tuple[str, str]
CONNECTIONS = 6  # of each kind
SECONDS = 30.0
BIG = "word " * 6000  # 30 000 bytes a turn
VECTOR = [1.0] + [0.0] * 383  # given with the big turns, so that seeding embeds nothing
REFUSALS: dict[int, str] = {}  # the first answer of each non-200 status the other tenant got


def head(method: str, path: str, key: str, length: int | None = None) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {key}",
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
    ]
    lines += [f"Content-Length: {length}"] if length is not None else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(line: bytes) -> str:
    return line.split()[1].decode() if line.startswith(b"HTTP/1.1 ") else "dropped"


class Attack:
    """The held connections of one read-only key, each kind tallied on its own."""

    def __init__(self, port: int, key: str, agent: str, deadline: float) -> None:
        self.port = port
        self.key = key
        self.agent = agent
        self.deadline = deadline
        self.outcomes: dict[str, Counter[str]] = {}

    def opening(self) -> bool:
        """Whether to open another connection: not in the attack's last two seconds, so that
        an exchange still running at the end was held, not merely begun late."""
        return time.monotonic() < self.deadline - 2

    def tally(self, kind: str, outcome: str) -> None:
        self.outcomes.setdefault(kind, Counter())[outcome] += 1

    async def stream(self, method: str) -> None:
        """Ask for an event stream and hold it until it ends (or the attack does)."""
        while self.opening():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(head(method, "/mcp", self.key))
            outcome = "held, unanswered"
            try:
                async with asyncio.timeout(self.deadline - time.monotonic()):
                    status, _ = await read_head(reader)
                    outcome = status
                    if status == "200":  # the event stream: held as long as it lasts
                        outcome = "200, held open"
                        while await reader.read(65536):
                            pass
                        outcome = "200, ended"
            except TimeoutError:
                pass
            self.tally(f"{method} /mcp (event stream)", outcome)
            writer.close()
            await asyncio.sleep(0.1)

    async def slow_body(self, path: str) -> None:
        """Announce a body and send it one byte a second."""
        body = json.dumps({"user_id": "U1", "query": "anything at all"}).encode()
        if path == "/mcp":
            call = {"name": "recall", "arguments": {"query": "anything", "user_id": "U1"}}
            message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}
            body = json.dumps(message).encode()
        while self.opening():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(head("POST", path, self.key, length=len(body)))
            outcome, sent = "held", 0
            while time.monotonic() < self.deadline:
                try:
                    async with asyncio.timeout(1.0):
                        line = await reader.readline()
                    outcome = status_of(line)
                    break
                except TimeoutError:
                    if sent < len(body) - 1:  # never the last byte
                        writer.write(body[sent : sent + 1])
                        sent += 1
            self.tally(f"POST {path}, body at 1 byte/s", outcome)
            writer.close()
            await asyncio.sleep(0.1)

    async def unread(self) -> None:
        """Ask for a large answer and never read it (only peek at its status line); an answer
        that started is watched past the attack's end, until the server drops it."""
        path = "/v1/history?user_id=U1&limit=300"
        kind = "GET /v1/history (9 MB), never read"
        while self.opening():
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(head("GET", path, self.key))
            sock.setblocking(False)
            status, outcome, since = "unanswered", "held", time.monotonic()
            while time.monotonic() < self.deadline + (20 if status == "200" else 0):
                await asyncio.sleep(0.2)
                try:
                    peeked = sock.recv(12, socket.MSG_PEEK)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    peeked = b""
                if not peeked:
                    outcome = f"dropped after {time.monotonic() - since:.0f} s"
                    break
                if status != "200":
                    status, since = status_of(peeked), time.monotonic()
                    if status != "200":  # a refusal: nothing held on the server
                        outcome = "answered"
                        break
            self.tally(kind, f"{status}, {outcome}")
            sock.close()
            await asyncio.sleep(0.1)

    async def slow_recalls(self) -> None:
        body = json.dumps({"query": "word anything", "k": 100}).encode()
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            while self.opening():
                writer.write(head("POST", "/v1/recall/across-users", self.key, len(body)) + body)
                status = await read_answer(reader)
                self.tally("POST /v1/recall/across-users k=100, back to back", status)
                if status == "dropped":
                    return
                if status in ("429", "503"):
                    await asyncio.sleep(1.0)  # Retry-After: 1

    async def run(self) -> None:
        kinds = [
            lambda: self.stream("GET"),
            lambda: self.stream("DELETE"),
            lambda: self.slow_body("/v1/recall"),
            lambda: self.slow_body("/mcp"),
            self.unread,
            self.slow_recalls,
        ]
        await asyncio.gather(*(kind() for kind in kinds for _ in range(CONNECTIONS)))


async def read_head(reader: asyncio.StreamReader) -> tuple[str, int | None]:
    """An answer's status and its Content-Length (None: none given, e.g. an event stream)."""
    status = status_of(await reader.readline())
    length = None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        length = int(value) if name.lower() == "content-length" else length
    return status, length


async def read_answer(reader: asyncio.StreamReader) -> str:
    status, length = await read_head(reader)
    await reader.readexactly(length or 0)
    return status


async def timed_recalls(
    base: str, key: str, agent: str, deadline: float
) -> list[tuple[int, float]]:
    """The other tenant's recalls, one after another, until ``deadline``."""
    timings: list[tuple[int, float]] = []
    body = {"agent_id": agent, "user_id": "U1", "query": "what did we say about the garden"}
    async with httpx.AsyncClient(base_url=base, headers=bearer(key), timeout=30) as client:
        while time.monotonic() < deadline:
            started = time.monotonic()
            answer = await client.post("/v1/recall", json=body)
            timings.append((answer.status_code, time.monotonic() - started))
            if answer.status_code != 200 and answer.status_code not in REFUSALS:
                REFUSALS[answer.status_code] = answer.text[:200]
            await asyncio.sleep(0.05)
    return timings


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def quantile_ms(samples: list[float], q: float) -> str:
    ordered = sorted(samples)
    return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.0f}" if samples else "-"


def setup(base: str, admin: str) -> tuple[str, str, str]:
    """(the attacker's read-only agent-bound key, its agent, the other tenant's key); the
    attacker's tenant holds 300 turns of 30 kB, the other 200 short ones."""
    made = [
        httpx.post(f"{base}/v1/tenants", json={"name": name}, headers=bearer(admin)).json()
        for name in ("holder", "neighbour")
    ]
    agent = str(uuid.uuid4())
    big = [
        {"agent_id": agent, "user_id": "U1", "role": "user", "content": f"{n} {BIG}"}
        | {"embedding": VECTOR}
        for n in range(300)
    ]
    topics = ["the garden", "a trip to Porto", "the new bike", "tea", "the quarterly report"]
    short = [
        {"agent_id": agent, "user_id": "U1", "role": "user", "content": f"we talked about {t} {n}"}
        for n in range(40)
        for t in topics
    ]
    for tenant, turns in ((made[0], big), (made[1], short)):
        answer = httpx.post(
            f"{base}/v1/turns",
            json={"turns": turns},
            headers=bearer(tenant["api_key"]),
            timeout=300,
        )
        answer.raise_for_status()
    key = httpx.post(
        f"{base}/v1/tenants/{made[0]['id']}/api-keys",
        json={"agent_id": agent, "scopes": ["read"], "name": "leaked"},
        headers=bearer(admin),
    ).json()["api_key"]
    return key, agent, made[1]["api_key"]


def held_connections(base: str, port: int, admin: str, rows: list[Row]) -> None:
    attacker, agent, victim = setup(base, admin)

    async def scenario() -> tuple[list[tuple[int, float]], list[tuple[int, float]], Attack]:
        alone = await timed_recalls(base, victim, agent, time.monotonic() + 10)
        deadline = time.monotonic() + SECONDS
        attack = Attack(port, attacker, agent, deadline)
        running = asyncio.create_task(attack.run())
        await asyncio.sleep(2)  # let every held connection open first
        during = await timed_recalls(base, victim, agent, deadline)
        await running
        return alone, during, attack

    alone, during, attack = asyncio.run(scenario())
    for kind, outcomes in attack.outcomes.items():
        got = ", ".join(f"{outcome}: {n}" for outcome, n in outcomes.most_common())
        rows.append((f"held by one read-only key: {kind}", got))
    for label, timings in (("alone", alone), (f"during the {SECONDS:.0f} s attack", during)):
        statuses = Counter(status for status, _ in timings)
        ok = [seconds for status, seconds in timings if status == 200]
        rows.append(
            (
                f"another tenant's recalls, {label}",
                f"{len(timings)} recalls: {dict(statuses)}; p50 {quantile_ms(ok, 0.5)} ms, "
                f"p99 {quantile_ms(ok, 0.99)} ms",
            )
        )
    for status, text in REFUSALS.items():
        print(f"the other tenant's first {status}: {text}")
