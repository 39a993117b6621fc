"""Every face's methods are the declarations of ``konstruct_memory.methods``: the library, the
blocking client and the asynchronous one show the same parameters and docstrings (the
asynchronous ones as coroutines), and a declaration builds its request, so a bad argument
fails before anything runs."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from konstruct_memory.client import AdminClient, AsyncAdminClient, AsyncClient, Client
from konstruct_memory.errors import InvalidInput
from konstruct_memory.library import Memory, TenantMemory
from konstruct_memory.methods import AdminMethods, TenantMethods
from konstruct_memory.methods.call import Method
from konstruct_memory.operations import OPERATIONS

FACES = [
    (TenantMethods, TenantMemory),
    (TenantMethods, Client),
    (TenantMethods, AsyncClient),
    (AdminMethods, Memory),
    (AdminMethods, AdminClient),
    (AdminMethods, AsyncAdminClient),
]
NOWHERE = "http://127.0.0.1:9"  # nothing listens: a request that reached it would fail


def declared(methods: type) -> set[str]:
    return {name for name, value in vars(methods).items() if isinstance(value, Method)}


def test_every_operation_is_declared_once_and_nothing_else_but_remember_one() -> None:
    tenant, admin = declared(TenantMethods), declared(AdminMethods)
    assert not tenant & admin
    assert tenant | admin == {op.name for op in OPERATIONS} | {"remember_one"}


@pytest.mark.parametrize(("methods", "face"), FACES, ids=lambda kind: kind.__name__)
def test_each_face_shows_the_declared_parameters_and_docstring(methods: type, face: type) -> None:
    for name in declared(methods):
        shown, declaration = getattr(face, name), vars(methods)[name].blocking
        assert inspect.signature(shown) == inspect.signature(declaration), name
        assert shown.__doc__ and shown.__doc__ == declaration.__doc__, name
        assert inspect.iscoroutinefunction(shown) == face.__name__.startswith("Async"), name
        # The result shown is the caller's part, not the declaration's Call.
        assert "Call[" not in str(inspect.signature(shown)), name


def test_a_bad_argument_fails_before_anything_is_sent() -> None:
    with Client(NOWHERE, "km_unit") as client, pytest.raises(InvalidInput, match=r"^k: "):
        client.recall(query="anything", k=0)

    async def asynchronous() -> None:
        async with AsyncClient(NOWHERE, "km_unit") as client:
            with pytest.raises(InvalidInput, match=r"^limit: "):
                await client.history(limit=0)

    asyncio.run(asynchronous())
