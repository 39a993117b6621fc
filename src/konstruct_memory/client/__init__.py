"""HTTP clients with the library's method names, parameters, results and error classes.

Light: httpx, pydantic and the operations contract only, so a service that just calls the API
never loads the database driver, NumPy or the model. ``pip install konstruct-memory`` is all it
needs (the server is the ``[server]`` extra).

>>> with Client("http://127.0.0.1:8080", api_key="km_…") as memory:
...     memory.remember([{"agent_id": agent, "user_id": "U1", "role": "user", "content": "hi"}])
...     memory.recall(agent, "U1", "what did I say?")
"""

from konstruct_memory.client.asynchronous import AsyncAdminClient, AsyncClient
from konstruct_memory.client.sync import AdminClient, Client
from konstruct_memory.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    KonstructMemoryError,
    NotFound,
    Unauthorized,
    Unavailable,
)
from konstruct_memory.operations import ApiKey, ApiKeyCreated, Context, Hit, StoredTurn, Tenant

__all__ = [
    "AdminClient",
    "ApiKey",
    "ApiKeyCreated",
    "AsyncAdminClient",
    "AsyncClient",
    "Client",
    "Conflict",
    "Context",
    "Forbidden",
    "Hit",
    "InvalidInput",
    "KonstructMemoryError",
    "NotFound",
    "StoredTurn",
    "Tenant",
    "Unauthorized",
    "Unavailable",
]
