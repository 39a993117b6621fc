"""The traffic of ``soak.py``: tenants and users, the seed turns, the request mix, what every
answer was, and the check that no acknowledged write went missing."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from scale_data import OBJECTS, SUBJECTS, sentences
from served import ADMIN_TOKEN

# The share of each operation; history and context split their 10 % evenly.
MIX = (("recall", 70), ("remember", 20), ("history", 5), ("context", 5))
TURNS_PER_REMEMBER = 2  # a user's message and the agent's reply
RETRY_AFTER_CAP_S = 2.0  # honour Retry-After, but never park a client for long


@dataclass(frozen=True)
class User:
    key: str  # its tenant's API key
    agent_id: str
    user_id: str


@dataclass
class Outcome:
    """One answer: when it came, which operation, its status (0: no answer), how long it took,
    and for a refusal which kind (the error code and, for 429, whose limit)."""

    finished: float
    operation: str
    status: int
    seconds: float
    refusal: str = ""


@dataclass
class Tally:
    """Every outcome, and the turns each 201 acknowledged, shared by the client threads."""

    outcomes: list[Outcome] = field(default_factory=list)
    acknowledged: dict[User, list[str]] = field(default_factory=lambda: defaultdict(list))
    other_errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: Outcome, user: User, ids: list[str], detail: str) -> None:
        with self.lock:
            self.outcomes.append(outcome)
            if outcome.status == 201:
                self.acknowledged[user].extend(ids)
            elif outcome.status not in (200, 429, 503):
                self.other_errors[detail[:120]] += 1


def make_users(base: str, tenants: int, users: int) -> list[User]:
    """``users`` users spread evenly over ``tenants`` new tenants, one agent each."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    keys = []
    for n in range(tenants):
        created = httpx.post(f"{base}/v1/tenants", json={"name": f"soak-{n}"}, headers=admin)
        created.raise_for_status()
        keys.append(created.json()["api_key"])
    agents = [str(uuid.uuid4()) for _ in range(tenants)]
    return [User(keys[n % tenants], agents[n % tenants], f"user-{n:03d}") for n in range(users)]


def seed(base: str, users: list[User], turns_each: int) -> None:
    """``turns_each`` template turns per user, so that recall has something to rank."""
    texts = sentences(len(users) * turns_each, seed=3)

    def store(n: int) -> None:
        user = users[n]
        batch = [
            turn(user, texts[n * turns_each + i], str(uuid.uuid4())) for i in range(turns_each)
        ]
        with httpx.Client(base_url=base, headers=bearer(user.key), timeout=300) as client:
            while (answer := client.post("/v1/turns", json={"turns": batch})).status_code in (
                429,
                503,
            ):
                time.sleep(1)
            answer.raise_for_status()

    # Two at a time: within every tenant's share, so seeding is never refused for long.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(store, range(len(users))))


def run_client(
    base: str, users: list[User], tally: Tally, deadline: float, seed_of_client: int
) -> None:
    """One client: requests of the mix, one after another, to random users until
    ``deadline``; after a refusal it waits what Retry-After says."""
    rng = random.Random(seed_of_client)  # noqa: S311 - a reproducible mix, not a secret
    operations = [name for name, _ in MIX]
    weights = [share for _, share in MIX]
    texts = sentences(2000, seed=seed_of_client)
    requests: dict[str, Callable[[httpx.Client, User], tuple[httpx.Response, list[str]]]] = {
        "recall": lambda c, u: (c.post("/v1/recall", json=scope(u, query=question(rng))), []),
        "context": lambda c, u: (c.post("/v1/context", json=scope(u, query=question(rng))), []),
        "history": lambda c, u: (c.get("/v1/history", params=scope(u, limit=20)), []),
        "remember": lambda c, u: remember(c, u, rng.sample(texts, TURNS_PER_REMEMBER)),
    }
    clients = {key: httpx.Client(base_url=base, headers=bearer(key), timeout=30) for key in
               {u.key for u in users}}  # fmt: skip
    try:
        while time.monotonic() < deadline:
            operation = rng.choices(operations, weights)[0]
            user = rng.choice(users)
            started = time.monotonic()
            try:
                answer, ids = requests[operation](clients[user.key], user)
            except httpx.HTTPError as exc:
                finished = time.monotonic()
                outcome = Outcome(finished, operation, 0, finished - started)
                tally.record(outcome, user, [], f"{type(exc).__name__}: {exc}")
                continue
            finished = time.monotonic()
            refusal = refusal_of(answer)
            outcome = Outcome(finished, operation, answer.status_code, finished - started, refusal)
            tally.record(outcome, user, ids, f"{answer.status_code} {answer.text}")
            if answer.status_code in (429, 503):
                wait = float(answer.headers.get("Retry-After", "1"))
                time.sleep(min(wait, RETRY_AFTER_CAP_S))
    finally:
        for client in clients.values():
            client.close()


def remember(
    client: httpx.Client, user: User, texts: list[str]
) -> tuple[httpx.Response, list[str]]:
    """POST /v1/turns with ids chosen here, so the acknowledged ones can be looked for later."""
    ids = [str(uuid.uuid4()) for _ in texts]
    batch = [turn(user, text, id_) for text, id_ in zip(texts, ids, strict=True)]
    return client.post("/v1/turns", json={"turns": batch}), ids


def refusal_of(answer: httpx.Response) -> str:
    """For 429 and 503, what refused: ``429 share`` (the tenant's share of the in-flight
    bound), ``429 rate`` (its rate limit), ``503 overloaded`` or ``503 <code>``."""
    if answer.status_code not in (429, 503):
        return ""
    try:
        error = answer.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"{answer.status_code} unexplained"
    if answer.status_code == 429:
        return "429 share" if "share" in error["message"] else "429 rate"
    return f"503 {error['code']}"


def lost_writes(
    acknowledged: dict[User, list[str]], stored: Callable[[User], set[str]]
) -> dict[User, set[str]]:
    """The acknowledged turn ids ``stored`` does not find, by user (empty: none lost)."""
    missing = {user: set(ids) - stored(user) for user, ids in acknowledged.items()}
    return {user: ids for user, ids in missing.items() if ids}


def stored_ids(base: str, user: User) -> set[str]:
    """Every turn id of the user's scope, paging back through history."""
    ids: set[str] = set()
    before = None
    with httpx.Client(base_url=base, headers=bearer(user.key), timeout=60) as client:
        while True:
            params = scope(user, limit=1000) | ({"before": before} if before else {})
            page = client.get("/v1/history", params=params)
            page.raise_for_status()
            turns = page.json()["turns"]
            ids |= {t["id"] for t in turns}
            if len(turns) < 1000:
                return ids
            before = turns[0]["id"]


def found_by_id(base: str, user: User, ids: set[str]) -> set[str]:
    """Those of ``ids`` that GET /v1/turns/{id} finds (the second look at a missing turn)."""
    with httpx.Client(base_url=base, headers=bearer(user.key), timeout=60) as client:
        return {i for i in ids if client.get(f"/v1/turns/{i}").status_code == 200}


def question(rng: random.Random) -> str:
    return f"what did {rng.choice(SUBJECTS).lower()} say about {rng.choice(OBJECTS)}?"


def scope(user: User, **more: Any) -> dict[str, Any]:
    return {"agent_id": user.agent_id, "user_id": user.user_id, **more}


def turn(user: User, content: str, turn_id: str) -> dict[str, Any]:
    return scope(user, role="user", content=content, id=turn_id)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
