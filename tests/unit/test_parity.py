"""One contract, every face: the library, HTTP (through the clients) and the CLI reach each
operation with the same parameters. A face that drops or renames a parameter fails here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import typer

from konstruct_memory.cli import app as cli_app
from konstruct_memory.operations import OPERATIONS, Operation, RememberRequest, Turn
from tests.unit.faces import (
    CALLS,
    RecordingEngine,
    app_over,
    async_http_clients,
    http_clients,
    library,
)

# The CLI command of each operation an operator needs there.
CLI_COMMANDS = {
    "remember": ["remember"],
    "recall": ["recall"],
    "recall_across_users": ["recall-across-users"],
    "history": ["history"],
    "context": ["context"],
    "get_turn": ["turn"],
    "list_scopes": ["scopes"],
    "whoami": ["whoami"],
    "create_tenant": ["tenant", "create"],
    "list_tenants": ["tenant", "list"],
    "create_api_key": ["key", "create"],
    "list_api_keys": ["key", "list"],
    "revoke_api_key": ["key", "revoke"],
    "update_tenant": ["tenant", "update"],
    "erase": ["erase"],
    "erase_for_tenant": ["erase"],
    "list_erasures": ["erasures"],
    "list_erasures_for_tenant": ["erasures"],
    "list_audit": ["audit"],
    "list_audit_for_tenant": ["audit"],
}
# The CLI remembers one turn per command; vectors come in through `import` (JSON Lines).
CLI_EXEMPT = {"remember": {"embedding"}}


def expected(operation: Operation) -> Any:
    return operation.request(**CALLS[operation.name])


def test_the_calls_set_every_field_of_every_operation_to_a_non_default() -> None:
    assert set(CALLS) == {op.name for op in OPERATIONS}
    models: list[tuple[str, type[Any], dict[str, Any]]] = [
        (op.name, op.request, CALLS[op.name]) for op in OPERATIONS
    ]
    models.append(("remember.turns[0]", Turn, CALLS["remember"]["turns"][0]))
    for where, model, call in models:
        built = model(**call)
        for name, field in model.model_fields.items():
            assert name in call, f"{where}: the parity call leaves {name} out"
            if not field.is_required():
                default = field.get_default(call_default_factory=True)
                assert getattr(built, name) != default, f"{where}.{name} is left at its default"


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_the_library_hands_the_engine_the_full_request(operation: Operation) -> None:
    engine = RecordingEngine()
    memory, tenant = library(engine)
    face = memory if operation.access == "admin" else tenant
    getattr(face, operation.name)(**CALLS[operation.name])
    assert engine.requests == [expected(operation)]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_the_client_and_the_http_routes_hand_the_engine_the_full_request(
    operation: Operation,
) -> None:
    engine = RecordingEngine()
    with http_clients(engine) as (client, admin):
        face: Any = admin if operation.access == "admin" else client
        getattr(face, operation.name)(**CALLS[operation.name])
    assert engine.requests == [expected(operation)]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_the_async_clients_hand_the_engine_the_full_request(operation: Operation) -> None:
    engine = RecordingEngine()

    async def call() -> None:
        async with async_http_clients(engine) as (client, admin):
            face: Any = admin if operation.access == "admin" else client
            await getattr(face, operation.name)(**CALLS[operation.name])

    asyncio.run(call())
    assert engine.requests == [expected(operation)]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_the_cli_takes_every_parameter(operation: Operation) -> None:
    command: Any = typer.main.get_command(cli_app)
    for word in CLI_COMMANDS[operation.name]:
        command = command.commands[word]
    fields = set(operation.request.model_fields)
    if operation.request is RememberRequest:
        fields = set(Turn.model_fields)
    missing = fields - CLI_EXEMPT.get(operation.name, set()) - {p.name for p in command.params}
    assert not missing, f"`{' '.join(CLI_COMMANDS[operation.name])}` lacks {sorted(missing)}"


def test_every_operation_has_its_route_and_status() -> None:
    paths = app_over(RecordingEngine()).openapi()["paths"]
    for operation in OPERATIONS:
        route = paths.get(operation.path, {}).get(operation.method.lower())
        assert route is not None, f"{operation.name}: no {operation.method} {operation.path} route"
        assert route["operationId"].startswith(operation.name), operation.name
        assert str(operation.status) in route["responses"], operation.name


def test_keep_forever_travels_as_a_change_and_an_absent_field_does_not() -> None:
    """``retention_days=None`` means "keep forever", not "leave as is", on every face."""
    engine = RecordingEngine()
    memory, _ = library(engine)
    memory.update_tenant(CALLS["update_tenant"]["tenant_id"], retention_days=None)
    with http_clients(engine) as (_, admin):
        admin.update_tenant(CALLS["update_tenant"]["tenant_id"], retention_days=None)
        admin.update_tenant(CALLS["update_tenant"]["tenant_id"], audit_reads=False)
    kept, sent, untouched = engine.requests
    assert kept == sent
    assert "retention_days" in sent.model_fields_set and sent.retention_days is None
    assert "retention_days" not in untouched.model_fields_set
