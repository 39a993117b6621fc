"""Konstruct Memory: long-term conversational memory for multi-tenant AI agents."""

from konstruct_memory.config import Settings
from konstruct_memory.errors import ConfigurationError, KonstructMemoryError, UnsafeRuntimeRole

__all__ = ["ConfigurationError", "KonstructMemoryError", "Settings", "UnsafeRuntimeRole"]
__version__ = "0.1.0"
