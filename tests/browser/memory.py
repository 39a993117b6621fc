"""Tenants with something to inspect, set up through the HTTP API beside the browser."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

AGENT = "3f2b8c1e-7d4a-4e0b-9c61-2a5f0d9e8b17"
ALL_SCOPES = ["read", "write", "erase", "audit"]

# Stored content that would run if the page ever parsed it as HTML: each sets a marker.
SCRIPT = "<script>window.__pwned = 'script'</script>"
IMAGE = "<img src=x onerror=\"window.__pwned = 'img'\">"
LINK = "<a href=\"javascript:window.__pwned = 'link'\">open me</a>"
SCHEME = "javascript:window.__pwned = 'scheme'"

CONVERSATION = [
    ("user", "We adopted a golden retriever called Biscuit last spring.", "2026-03-02T09:00:00Z"),
    ("assistant", "Lovely! How is Biscuit settling in?", "2026-03-02T09:00:20Z"),
    ("user", "Great, though he chews every shoe in the house.", "2026-03-03T18:30:00Z"),
    ("assistant", "Chew toys and a crate help most puppies.", "2026-03-03T18:30:30Z"),
    ("user", "I moved to Porto for a new job in May.", "2026-05-10T08:15:00Z"),
    ("assistant", "Congratulations on the move to Porto!", "2026-05-10T08:15:40Z"),
]


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    key: str  # every scope, bound to nothing

    def client(self, base: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers=bearer(self.key), timeout=30)


@dataclass(frozen=True)
class Remembered:
    tenant: Tenant
    turns: list[dict[str, Any]]  # as stored, in the order of remember_conversation


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_tenant(admin: httpx.Client, name: str = "acme") -> Tenant:
    name = f"{name}-{secrets.token_hex(3)}"
    tenant = admin.post("/v1/tenants", json={"name": name})
    assert tenant.status_code == 201, tenant.text
    tenant_id = tenant.json()["id"]
    return Tenant(tenant_id, name, new_key(admin, tenant_id, scopes=ALL_SCOPES)["api_key"])


def new_key(admin: httpx.Client, tenant_id: str, **spec: Any) -> dict[str, Any]:
    created = admin.post(f"/v1/tenants/{tenant_id}/api-keys", json=spec)
    assert created.status_code == 201, created.text
    key: dict[str, Any] = created.json()
    return key


def remember(api: httpx.Client, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stored = api.post("/v1/turns", json={"turns": turns})
    assert stored.status_code == 201, stored.text
    answer: list[dict[str, Any]] = stored.json()["turns"]
    return answer


def remember_conversation(api: httpx.Client, user: str = "maria") -> list[dict[str, Any]]:
    """Maria's six turns in the thread "home", and two of Omar's in no thread."""
    turns = [
        {
            "agent_id": AGENT,
            "user_id": user,
            "role": role,
            "content": content,
            "occurred_at": at,
            "conversation_id": "home",
            "metadata": {"channel": "web"},
        }
        for role, content, at in CONVERSATION
    ]
    turns += [
        {"agent_id": AGENT, "user_id": "omar", "role": "user", "content": content}
        for content in ("My sister lives in Lyon.", "I prefer tea to coffee.")
    ]
    return remember(api, turns)


def remember_markup(api: httpx.Client) -> list[dict[str, Any]]:
    """Turns whose every text field is markup or a script URL."""
    return remember(
        api,
        [
            {
                "agent_id": AGENT,
                "user_id": IMAGE,
                "role": "user",
                "content": f"{SCRIPT} {IMAGE} {LINK}",
                "conversation_id": SCRIPT,
                "metadata": {"note": IMAGE, "href": SCHEME, "html": LINK},
            },
            {
                "agent_id": AGENT,
                "user_id": IMAGE,
                "role": "assistant",
                "content": f"{SCHEME}\n{LINK}",
                "conversation_id": SCRIPT,
            },
        ],
    )
