"""Konstruct Memory: long-term conversational memory for multi-tenant AI agents."""

from konstruct_memory.config import Settings
from konstruct_memory.errors import (
    ConfigurationError,
    Conflict,
    EmbeddingUnavailable,
    InvalidInput,
    KonstructMemoryError,
    NotFound,
    SchemaOutOfDate,
    UnsafeRuntimeRole,
)
from konstruct_memory.memory import Memory, Tenant
from konstruct_memory.models import Context, Hit, StoredTurn, Turn
from konstruct_memory.service import RecallTuning, TenantMemory

__all__ = [
    "ConfigurationError",
    "Conflict",
    "Context",
    "EmbeddingUnavailable",
    "Hit",
    "InvalidInput",
    "KonstructMemoryError",
    "Memory",
    "NotFound",
    "RecallTuning",
    "SchemaOutOfDate",
    "Settings",
    "StoredTurn",
    "Tenant",
    "TenantMemory",
    "Turn",
    "UnsafeRuntimeRole",
]
__version__ = "0.1.0"
