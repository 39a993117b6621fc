"""HTTP client with the library's method names, raising the library's error classes.

>>> memory = Client("http://127.0.0.1:8080", api_key="km_…")
>>> memory.remember([{"agent_id": agent, "user_id": "U1", "role": "user", "content": "hi"}])
>>> memory.recall(agent, "U1", "what did I say?")
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from types import TracebackType
from typing import Any
from uuid import UUID

import httpx

from konstruct_memory.errors import Unavailable, error_for
from konstruct_memory.memory import ApiKey, Tenant
from konstruct_memory.models import Context, Hit, StoredTurn, Turn


@dataclass(frozen=True)
class Receipt:
    """What the API answers for each remembered turn."""

    id: UUID
    created_at: datetime


class _Http:
    def __init__(
        self, base_url: str, token: str, timeout: float, transport: httpx.BaseTransport | None
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {token}"},
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if "json" in kwargs:
            kwargs["content"] = json.dumps(kwargs.pop("json"), default=_jsonable)
            kwargs["headers"] = {"Content-Type": "application/json"}
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(f"memory service unreachable: {exc}") from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise error_for(error["code"], error["message"])
            except (ValueError, KeyError, TypeError):
                raise error_for("http_error", f"HTTP {response.status_code}") from None
        return response.json() if response.content else None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Client(_Http):
    """Memory for the tenant whose API key this is (the server takes the tenant from it)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout, transport)

    def remember(self, turns: Sequence[Turn | Mapping[str, Any]]) -> list[Receipt]:
        body = {"turns": [_turn_body(t) for t in turns]}
        answer = self._call("POST", "/v1/turns", json=body)
        return [
            Receipt(UUID(r["id"]), datetime.fromisoformat(r["created_at"])) for r in answer["turns"]
        ]

    def remember_one(self, turn: Turn | Mapping[str, Any]) -> Receipt:
        return self.remember([turn])[0]

    def recall(
        self,
        agent_id: UUID | str,
        user_id: str,
        query: str,
        k: int = 10,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        conversation_id: str | None = None,
        roles: Sequence[str] | None = None,
    ) -> list[Hit]:
        body = {
            "agent_id": agent_id,
            "user_id": user_id,
            "query": query,
            "k": k,
            "since": since,
            "until": until,
            "conversation_id": conversation_id,
            "roles": roles,
        }
        answer = self._call("POST", "/v1/recall", json=_without_none(body))
        return [_hit(h, user_id) for h in answer["hits"]]

    def history(
        self,
        agent_id: UUID | str,
        user_id: str,
        limit: int = 20,
        conversation_id: str | None = None,
        before: UUID | str | None = None,
    ) -> list[StoredTurn]:
        params = _without_none(
            {
                "agent_id": str(agent_id),
                "user_id": user_id,
                "limit": limit,
                "conversation_id": conversation_id,
                "before": None if before is None else str(before),
            }
        )
        answer = self._call("GET", "/v1/history", params=params)
        return [_stored(t) for t in answer["turns"]]

    def context(
        self,
        agent_id: UUID | str,
        user_id: str,
        query: str,
        recent: int = 10,
        k: int = 5,
        max_tokens: int | None = None,
    ) -> Context:
        body = {
            "agent_id": agent_id,
            "user_id": user_id,
            "query": query,
            "recent": recent,
            "k": k,
            "max_tokens": max_tokens,
        }
        answer = self._call("POST", "/v1/context", json=_without_none(body))
        return Context(
            recent=[_stored(t) for t in answer["recent"]],
            recalled=[_hit(h, user_id) for h in answer["recalled"]],
            text=answer["text"],
            tokens=answer["tokens"],
        )


class AdminClient(_Http):
    """Tenant administration over HTTP, with the admin token."""

    def __init__(
        self,
        base_url: str,
        admin_token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, admin_token, timeout, transport)

    def create_tenant(self, name: str) -> tuple[Tenant, str]:
        """The new tenant and its first API key (shown once)."""
        answer = self._call("POST", "/v1/tenants", json={"name": name})
        tenant = Tenant(
            UUID(answer["id"]), answer["name"], datetime.fromisoformat(answer["created_at"])
        )
        return tenant, answer["api_key"]

    def list_tenants(self) -> list[Tenant]:
        answer = self._call("GET", "/v1/tenants")
        return [
            Tenant(UUID(t["id"]), t["name"], datetime.fromisoformat(t["created_at"]))
            for t in answer["tenants"]
        ]

    def create_api_key(self, tenant_id: UUID | str) -> ApiKey:
        answer = self._call("POST", f"/v1/tenants/{tenant_id}/api-keys")
        return ApiKey(UUID(answer["id"]), UUID(str(tenant_id)), answer["api_key"])

    def revoke_api_key(self, key_id: UUID | str) -> None:
        self._call("DELETE", f"/v1/api-keys/{key_id}")


def _jsonable(value: object) -> object:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _turn_body(turn: Turn | Mapping[str, Any]) -> dict[str, Any]:
    fields = asdict(turn) if isinstance(turn, Turn) else dict(turn)
    return _without_none(fields)


def _hit(h: Mapping[str, Any], user_id: str) -> Hit:
    return Hit(
        id=UUID(h["id"]),
        role=h["role"],
        content=h["content"],
        occurred_at=datetime.fromisoformat(h["occurred_at"]),
        conversation_id=h["conversation_id"],
        score=h["score"],
        user_id=user_id,
    )


def _stored(t: Mapping[str, Any]) -> StoredTurn:
    return StoredTurn(
        id=UUID(t["id"]),
        agent_id=UUID(t["agent_id"]),
        user_id=t["user_id"],
        role=t["role"],
        content=t["content"],
        conversation_id=t["conversation_id"],
        occurred_at=datetime.fromisoformat(t["occurred_at"]),
        created_at=datetime.fromisoformat(t["created_at"]),
        metadata=t["metadata"],
    )
