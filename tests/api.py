"""Helpers for tests that drive the HTTP API in-process: the app over the shared memory,
credentials, tenants and keys made through the admin routes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """The app over ``memory`` with its own admin token."""

    def __init__(self, client: TestClient, admin_token: str) -> None:
        self.client = client
        self.admin = bearer(admin_token)

    def new_tenant(self, name: str = "t") -> tuple[str, dict[str, str]]:
        """A tenant and the headers of its first key (read and write, unbound)."""
        tenant = self.client.post("/v1/tenants", json={"name": name}, headers=self.admin).json()
        return tenant["id"], bearer(tenant["api_key"])

    def new_key(self, tenant_id: str, **spec: Any) -> dict[str, Any]:
        """A key made with ``spec`` (its JSON answer, secret included)."""
        created = self.client.post(
            f"/v1/tenants/{tenant_id}/api-keys", json=spec, headers=self.admin
        )
        assert created.status_code == 201, created.text
        key: dict[str, Any] = created.json()
        return key

    def key_headers(self, tenant_id: str, **spec: Any) -> dict[str, str]:
        return bearer(self.new_key(tenant_id, **spec)["api_key"])


@contextmanager
def serving(memory: Memory, admin_token: str) -> Iterator[Api]:
    app = create_app(memory.settings, memory=memory, admin_token=admin_token)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, admin_token)
