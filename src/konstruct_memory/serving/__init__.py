"""What ``serve`` serves: the HTTP API of ``api``, the MCP tools of ``mcp`` at ``/mcp`` and the
browser inspector, assembled into one app (``create_app``), and the server that runs it
(``server``). The faces it assembles do not import each other; only this package knows them
all."""

from konstruct_memory.serving.app import create_app

__all__ = ["create_app"]
