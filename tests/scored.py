"""A scope whose turns score at several levels for one query, and what a threshold over them
must keep: what recall answers without ``min_score``, less the hits that score below it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from konstruct_memory.library import Memory
from konstruct_memory.operations import Hit

AGENT = "6d0f3c2a-94b1-4c8e-a7d5-3e1b2f9c8a40"
USER, OTHER_USER = "U1", "U2"
QUERY = "where is the office wifi password kept"
SAID = {
    USER: [
        "The office wifi password is kept on the fridge door.",
        "Noted: the wifi password is on the fridge.",
        "The office printer is out of paper again.",
        "My daughter starts school in September.",
        "We had pasta for lunch today.",
        "The wifi in the kitchen is slow.",
        "I keep my passport in the drawer.",
        "Thanks, that helps a lot.",
    ],
    OTHER_USER: [
        "Where is the office now? It moved to the third floor.",
        "The password of the guest wifi changed on Monday.",
        "I prefer tea to coffee.",
    ],
}

N_USER = len(SAID[USER])
N_ALL = sum(len(contents) for contents in SAID.values())


@dataclass(frozen=True)
class Scene:
    """A tenant holding ``SAID`` for ``AGENT``, and a key bound to that agent."""

    tenant_id: uuid.UUID
    api_key: str


def stored_scene(memory: Memory) -> Scene:
    tenant = memory.create_tenant("scored-" + uuid.uuid4().hex[:6])
    turns = [
        {
            "agent_id": AGENT,
            "user_id": user,
            "role": "user" if i % 2 == 0 else "assistant",
            "content": content,
            "occurred_at": f"2026-03-{i + 1:02d}T12:00:00+00:00",
        }
        for user, contents in SAID.items()
        for i, content in enumerate(contents)
    ]
    memory.tenant(tenant.id).remember(turns)
    key = memory.create_api_key(tenant.id, agent_id=AGENT).api_key
    return Scene(tenant.id, key)


def middle_threshold(hits: Sequence[Hit]) -> float:
    """A threshold halfway between two score levels of the unthresholded answer, with hits
    scoring above and below it."""
    levels = sorted({hit.score for hit in hits}, reverse=True)
    assert len(levels) >= 3, f"the scene needs three score levels, got {levels}"
    middle = len(levels) // 2
    return (levels[middle - 1] + levels[middle]) / 2


def kept(hits: Sequence[Hit], threshold: float) -> list[uuid.UUID]:
    """The ids a threshold keeps, in order: those scoring at or above it."""
    ids = [hit.id for hit in hits if hit.score >= threshold]
    assert 0 < len(ids) < len(hits), "the threshold must keep some hits and drop others"
    return ids


def ids(items: Sequence[Hit] | Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    return [item.id if isinstance(item, Hit) else uuid.UUID(str(item["id"])) for item in items]
