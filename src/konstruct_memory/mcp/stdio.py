"""The stdio front: an MCP server on stdin/stdout that forwards to the HTTP API, for desktop
agents that launch their tools as commands."""

from __future__ import annotations

import anyio

from konstruct_memory.client import AsyncClient
from konstruct_memory.errors import ConfigurationError
from konstruct_memory.mcp.backends import ClientBackend, refuse_unbound
from konstruct_memory.mcp.server import MemoryServer


def serve_stdio(url: str, api_key: str) -> None:
    """Check the key against the service, then serve MCP on stdio until stdin closes."""

    async def main() -> None:
        async with AsyncClient(url, api_key) as client:
            identity = await client.whoami()
            problem = refuse_unbound(identity)
            if problem is not None:
                raise ConfigurationError(problem)
            await MemoryServer(ClientBackend(client, identity)).run_stdio_async()

    anyio.run(main)
