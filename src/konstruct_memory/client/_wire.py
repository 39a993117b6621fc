"""Requests of the contract to HTTP and back, and the credentials a client is opened with:
shared by the sync and async clients."""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

import httpx

from konstruct_memory import consistency
from konstruct_memory.errors import KonstructMemoryError, Unavailable, error_for
from konstruct_memory.operations import BY_REQUEST, Request, Result

R = TypeVar("R", bound=Result)
Transport = TypeVar("Transport")  # httpx's, of the sync or the async client


class Opened(Generic[Transport]):
    """What a client opens: its ``httpx`` client, over ``transport`` if one is given."""

    def _open(
        self,
        base_url: str,
        token: str,
        timeout: float,
        transport: Transport | None,
        position: str | None,
    ) -> None:
        raise NotImplementedError


class KeyCredential(Opened[Transport]):
    """A client opened with a tenant's API key (the service takes the tenant from it), and
    optionally a consistency token to start from (``position``)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: Transport | None = None,
        position: str | None = None,
    ) -> None:
        self._open(base_url, api_key, timeout, transport, position)


class AdminCredential(Opened[Transport]):
    """A client opened with the admin token."""

    def __init__(
        self,
        base_url: str,
        admin_token: str,
        *,
        timeout: float = 30.0,
        transport: Transport | None = None,
    ) -> None:
        self._open(base_url, admin_token, timeout, transport, None)


def connection(base_url: str, token: str, timeout: float) -> dict[str, Any]:
    """What both clients open their ``httpx`` client with: the service and the credential."""
    return {
        "base_url": base_url.rstrip("/"),
        "timeout": timeout,
        "headers": {"Authorization": f"Bearer {token}"},
    }


def encode(request: Request[Any]) -> dict[str, Any]:
    """``httpx`` arguments for the operation's route: path fields in the URL, the rest in the
    query string (GET, DELETE) or a JSON body (POST, PATCH). Defaults travel too: explicit
    beats implicit when server and client versions differ. A PATCH sends the fields that were
    set, null included (it means "set to null", not "leave as is")."""
    operation = BY_REQUEST[type(request)]
    if operation.method == "PATCH":
        fields = request.model_dump(mode="json", exclude_unset=True)
    else:
        fields = request.model_dump(mode="json", exclude_none=True)
    path = operation.path.format(**{name: fields.pop(name) for name in operation.path_fields})
    if operation.in_query:
        return {"method": operation.method, "url": path, "params": fields}
    return {
        "method": operation.method,
        "url": path,
        "content": json.dumps(fields).encode(),
        "headers": {"Content-Type": "application/json"},
    }


def with_position(sent: dict[str, Any], position: str | None) -> dict[str, Any]:
    """``httpx`` arguments carrying the consistency token, when there is one."""
    if position is None:
        return sent
    return {**sent, "headers": {**sent.get("headers", {}), consistency.HEADER: position}}


def decode(request: Request[R], response: httpx.Response) -> R | None:
    """The operation's result, None for an empty answer (204), or the error it stands for."""
    if response.status_code >= 400:
        raise _error(response)
    if not response.content:
        return None
    result_type = BY_REQUEST[type(request)].result
    answer: R = result_type.model_validate_json(response.content)  # type: ignore[assignment]
    return answer


def unreachable(exc: httpx.TransportError) -> Unavailable:
    return Unavailable(f"memory service unreachable: {type(exc).__name__}: {exc}")


def _error(response: httpx.Response) -> KonstructMemoryError:
    try:
        error = response.json()["error"]
        return error_for(error["code"], error["message"])
    except (ValueError, KeyError, TypeError):
        return error_for("http_error", f"HTTP {response.status_code}")


def required(result: R | None) -> R:
    if result is None:
        raise KonstructMemoryError("the service answered with an empty body")
    return result
