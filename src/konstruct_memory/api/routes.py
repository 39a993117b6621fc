"""The ``/v1`` routes of the operations, one per row of the registry, all built the same way.

A route takes its path fields from the URL, the rest of the request from a JSON body (POST,
PATCH) or the query string (GET, DELETE), and hands the request model to ``Engine.run`` as
the key's or the administrator's principal. Bodies parse into the contract's models; a query
string parses into a model of the same fields, refusing any other, so a misspelt ``limt=5``
does not silently fall back to the default.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter, create_model

from konstruct_memory import consistency
from konstruct_memory.api.deps import AdminPrincipal, EngineDep, KeyPrincipal
from konstruct_memory.auth.principal import Principal
from konstruct_memory.engine.service import Engine
from konstruct_memory.operations import OPERATIONS, Operation, build

# The OpenAPI document's sections, by the contract module that holds an operation's request.
_TAGS = {
    "turns": "turns",
    "reads": "recall",
    "admin": "administration",
    "lifecycle": "data lifecycle",
}

_INTEGER = TypeAdapter(int)


def _integer_from_text(value: object) -> object:
    """A query string has no types: ``"5"`` is the integer 5, decoded as FastAPI decodes an
    ``int`` parameter. Every rule about the number is the contract's, which runs next."""
    return _INTEGER.validate_python(value) if isinstance(value, str) else value


def tag_of(operation: Operation) -> str:
    # A key asking who it is sits with the turns it reads and writes, where a caller starts.
    if operation.access == "key":
        return _TAGS["turns"]
    return _TAGS[operation.request.__module__.rsplit(".", 1)[-1]]


def body_model(operation: Operation) -> type[BaseModel]:
    """The model of a route's JSON body: the request, or the base of it that leaves out the
    path fields (``KeySpec`` under ``/v1/tenants/{tenant_id}/api-keys``)."""
    wanted = set(operation.request.model_fields) - set(operation.path_fields)
    for base in operation.request.__mro__:
        if issubclass(base, BaseModel) and set(base.model_fields) == wanted:
            return base
    raise TypeError(f"{operation.name}: no model of {operation.request.__name__} without its path")


def query_model(operation: Operation) -> type[BaseModel]:
    """The request's fields outside the path, as a query-string model refusing other names."""
    request = operation.request
    fields: dict[str, Any] = {}
    for name, field in request.model_fields.items():
        if name in operation.path_fields:
            continue
        annotation: Any = field.annotation
        if annotation is int:
            annotation = Annotated[int, BeforeValidator(_integer_from_text)]
        fields[name] = (annotation, field)
    return create_model(f"{request.__name__}Query", __config__=ConfigDict(extra="forbid"), **fields)


def request_of(operation: Operation, given: BaseModel | None, path: dict[str, str]) -> Any:
    """The operation's request from what the route parsed: a body that is the request itself
    goes as it is; otherwise its fields given, with the path's, are validated once more as
    the request (the path's ids are checked only here, naming the field)."""
    if isinstance(given, operation.request) and not path:
        return given
    fields = given.model_dump(exclude_unset=True) if given is not None else {}
    return build(operation.request, **path, **fields)


def _parameters(operation: Operation) -> list[inspect.Parameter]:
    def parameter(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> Any:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
        )

    principal = AdminPrincipal if operation.access == "admin" else KeyPrincipal
    found = [parameter(name, str) for name in operation.path_fields]
    if operation.in_query:
        found.append(parameter("query", Annotated[query_model(operation), Query()]))
    elif operation.body_optional:
        found.append(parameter("body", body_model(operation) | None, None))
    else:
        found.append(parameter("body", body_model(operation)))
    found += [parameter("principal", principal), parameter("engine", EngineDep)]
    if operation.access != "admin":
        # The consistency token: in on every tenant route, out on those that write.
        token = Header(
            alias=consistency.HEADER,
            description="A position a write answered with: this read sees that write, "
            "whichever process or host of the service serves it",
        )
        found += [
            parameter("position", Annotated[str | None, token], None),
            parameter("response", Response),
        ]
    return found


def endpoint(operation: Operation) -> Any:
    path_fields = operation.path_fields

    def run(principal: Principal, engine: Engine, **parsed: Any) -> Any:
        given = parsed.pop("query" if operation.in_query else "body")
        path = {name: parsed[name] for name in path_fields}
        seen = consistency.parse_position(parsed.get("position"))
        request = request_of(operation, given, path)
        result, committed = engine.run_tracked(principal, request, seen)
        if committed is not None:
            parsed["response"].headers[consistency.HEADER] = consistency.position_text(committed)
        return Response(status_code=204) if operation.status == 204 else result

    run.__name__ = operation.name
    run.__signature__ = inspect.Signature(_parameters(operation))  # type: ignore[attr-defined]
    return run


def operation_router() -> APIRouter:
    """Every operation of the registry as a route: its path, method and status, its request
    in, its result model out (nothing for 204)."""
    router = APIRouter()
    for operation in OPERATIONS:
        answer: dict[str, Any] = {"response_model": operation.result}
        if operation.status == 204:
            answer = {"response_model": None, "response_class": Response}
        router.add_api_route(
            operation.path,
            endpoint(operation),
            methods=[operation.method],
            status_code=operation.status,
            name=operation.name,
            summary=operation.name.replace("_", " ").capitalize(),
            description=operation.request.__doc__ or "",
            tags=[tag_of(operation)],
            **answer,
        )
    return router
