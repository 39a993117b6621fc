"""Adapters for agent frameworks, each behind its own extra (``[langchain]`` …): importing
``konstruct_memory`` or its client loads none of them. They talk to the service through the
HTTP client, with a tenant API key."""
