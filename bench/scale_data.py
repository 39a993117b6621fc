"""A synthetic multi-tenant data set that looks like real memory traffic.

Vectors are real all-MiniLM-L6-v2 embeddings of a few thousand varied sentences plus small
noise, renormalised: clustered like real chat, not uniform noise (on which every index looks
perfect or hopeless). The sentences are templates by default, or real chat turns
(``locomo_texts``): a keyword search needs words as frequent as in real chat.
Sizes are Zipf-skewed: a few large tenants, a long tail of small ones;
per tenant 1-5 agents; per agent Zipf-skewed users; occurred_at spread over a year.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from konstruct_memory.embed.minilm import MiniLMEmbedder

SUBJECTS = [
    "I",
    "My manager",
    "The client",
    "Our team",
    "My sister",
    "The landlord",
    "Sam",
    "The new hire",
    "Our CEO",
    "My doctor",
    "The vendor",
    "Priya",
    "The intern",
]
VERBS = [
    "asked about",
    "complained about",
    "finally fixed",
    "wants to postpone",
    "loved",
    "is worried about",
    "booked",
    "cancelled",
    "forgot",
    "signed off on",
    "reviewed",
]
OBJECTS = [
    "the Q3 budget",
    "the flight to Lisbon",
    "the broken dishwasher",
    "invoice 4471",
    "the onboarding checklist",
    "my knee injury",
    "the Kubernetes upgrade",
    "the birthday party",
    "the marketing plan",
    "the VPN outage",
    "the new logo",
    "the lease renewal",
    "the hiring freeze",
    "the beta release",
    "the tax return",
]
WHEN = ["yesterday", "last week", "this morning", "on Friday", "again", "for next month"]


def sentences(n: int, seed: int = 7) -> list[str]:
    combos = list(itertools.product(SUBJECTS, VERBS, OBJECTS, WHEN))
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(combos), size=min(n, len(combos)), replace=False)
    return [" ".join(combos[i]) + "." for i in picked]


@dataclass(frozen=True)
class Scope:
    tenant: int
    agent: uuid.UUID
    user: str
    rows: int


def zipf_split(total: int, parts: int, rng: np.random.Generator, s: float = 1.1) -> list[int]:
    """``total`` split into ``parts`` Zipf-weighted sizes, each at least 1, shuffled."""
    weights = 1.0 / np.arange(1, parts + 1) ** s
    # One each, the rest by Zipf weight; the head absorbs the rounding.
    sizes = 1 + np.floor(weights / weights.sum() * (total - parts)).astype(int)
    sizes[0] += total - sizes.sum()
    assert sizes.min() >= 1 and sizes.sum() == total
    rng.shuffle(sizes)
    return [int(x) for x in sizes]


def layout(rows: int, tenants: int, seed: int = 11) -> list[Scope]:
    """Every (tenant, agent, user) scope with its row count; counts add up to ``rows``."""
    rng = np.random.default_rng(seed)
    scopes = []
    for tenant, tenant_rows in enumerate(zipf_split(rows, tenants, rng)):
        agents = int(rng.integers(1, 6))
        for agent_rows in zipf_split(tenant_rows, min(agents, tenant_rows), rng):
            agent = uuid.UUID(int=int(rng.integers(1, 2**62)))
            users = max(1, min(agent_rows, int(rng.integers(1, 200))))
            for u, user_rows in enumerate(zipf_split(agent_rows, users, rng)):
                scopes.append(Scope(tenant, agent, f"U{tenant:04d}{u:04d}", user_rows))
    return scopes


def locomo_texts(path: Path) -> list[str]:
    """Every turn of a LoCoMo-format file as "<speaker>: <text>" (retrieval_quality's mapping):
    real chat, with its common words as frequent as they are."""
    texts = []
    for conv in (sample["conversation"] for sample in _locomo(path)):
        n = 1
        while f"session_{n}" in conv:
            texts += [f"{t['speaker']}: {t['text']}" for t in conv[f"session_{n}"]]
            n += 1
    return texts


def locomo_questions(path: Path) -> list[str]:
    """The questions of a LoCoMo-format file (categories 1-4, as retrieval_quality asks)."""
    return [
        qa["question"] for sample in _locomo(path) for qa in sample["qa"] if qa["category"] <= 4
    ]


def _locomo(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        samples: list[dict[str, Any]] = json.load(f)
    return samples


class VectorSource:
    """Real MiniLM vectors of varied sentences (``texts``, or templates), plus noise: clustered
    like real traffic."""

    def __init__(
        self,
        n_base: int = 3000,
        noise: float = 0.35,
        seed: int = 5,
        texts: list[str] | None = None,
    ) -> None:
        self.texts = sentences(n_base) if texts is None else texts
        self.base = MiniLMEmbedder().embed(self.texts)
        self.noise = noise
        self.rng = np.random.default_rng(seed)

    def draw(self, n: int) -> tuple[list[str], npt.NDArray[np.float32]]:
        picks = self.rng.integers(0, len(self.texts), size=n)
        noise = self.rng.normal(size=(n, self.base.shape[1])).astype(np.float32)
        vectors = self.base[picks] + self.noise * noise / np.sqrt(self.base.shape[1])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return [self.texts[i] for i in picks], vectors


def turns_for(
    scope: Scope, source: VectorSource, start: datetime, batch: int
) -> Iterator[list[dict[str, object]]]:
    """The scope's turns as ``remember`` batches, spread over a year."""
    texts, vectors = source.draw(scope.rows)
    offsets = np.sort(source.rng.integers(0, 365 * 24 * 3600, size=scope.rows))
    turns = [
        {
            "id": uuid.uuid5(_IDS, f"{scope.tenant}/{scope.agent}/{scope.user}/{i}"),
            "agent_id": scope.agent,
            "user_id": scope.user,
            "role": ("user", "assistant")[i % 2],
            "content": texts[i],
            "embedding": vectors[i],
            "occurred_at": start + timedelta(seconds=int(offsets[i])),
        }
        for i in range(scope.rows)
    ]
    for i in range(0, len(turns), batch):
        yield turns[i : i + batch]


YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
_IDS = uuid.UUID("9d2c4f1a-8b3e-4a6d-b5c7-1e0f2a3b4c5d")
