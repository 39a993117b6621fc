"""The MCP face: the memory as tools for agents, over Streamable HTTP (in ``serve``, where
``serving.mcp_http`` puts them at ``/mcp`` behind the API's keys) or stdio.

An MCP session acts as exactly one agent, the one its API key is bound to: no tool takes a
tenant or an agent, so no prompt can steer a tool into another tenant's or agent's memory.
"""
