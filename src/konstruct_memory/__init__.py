"""Konstruct Memory: long-term conversational memory for multi-tenant AI agents.

Names are imported on first use, so ``import konstruct_memory.client`` (which runs this file
first) stays light: the library and its database driver load only when asked for.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from konstruct_memory.auth.principal import Principal
    from konstruct_memory.config import Settings
    from konstruct_memory.engine.ranking import RecallTuning
    from konstruct_memory.errors import (
        ConfigurationError,
        Conflict,
        EmbeddingUnavailable,
        Forbidden,
        InvalidInput,
        KonstructMemoryError,
        NotFound,
        SchemaOutOfDate,
        UnsafeRuntimeRole,
    )
    from konstruct_memory.library import Memory
    from konstruct_memory.operations import Context, Hit, StoredTurn, Tenant, Turn
    from konstruct_memory.tenant_memory import TenantMemory

_WHERE = {
    "Memory": "library",
    "TenantMemory": "tenant_memory",
    "Principal": "auth.principal",
    "RecallTuning": "engine.ranking",
    "Settings": "config",
    "Context": "operations",
    "Hit": "operations",
    "StoredTurn": "operations",
    "Tenant": "operations",
    "Turn": "operations",
    **{
        name: "errors"
        for name in (
            "ConfigurationError",
            "Conflict",
            "EmbeddingUnavailable",
            "Forbidden",
            "InvalidInput",
            "KonstructMemoryError",
            "NotFound",
            "SchemaOutOfDate",
            "UnsafeRuntimeRole",
        )
    },
}
__all__ = [
    "ConfigurationError",
    "Conflict",
    "Context",
    "EmbeddingUnavailable",
    "Forbidden",
    "Hit",
    "InvalidInput",
    "KonstructMemoryError",
    "Memory",
    "NotFound",
    "Principal",
    "RecallTuning",
    "SchemaOutOfDate",
    "Settings",
    "StoredTurn",
    "Tenant",
    "TenantMemory",
    "Turn",
    "UnsafeRuntimeRole",
]
# pyproject.toml is the one place the version is written; the installed metadata carries it.
try:
    __version__ = importlib.metadata.version("konstruct-memory")
except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'konstruct_memory' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"konstruct_memory.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
