"""Embedders: turn texts into 384-d vectors. The store records each row's model name."""

from __future__ import annotations

from konstruct_memory.config import Settings
from konstruct_memory.embed.vectors import (
    DIMENSION,
    Embedder,
    Vectors,
    length_batches,
    normalise,
)
from konstruct_memory.errors import ConfigurationError

__all__ = ["DIMENSION", "Embedder", "Vectors", "from_settings", "length_batches", "normalise"]


def from_settings(settings: Settings) -> Embedder:
    """The embedder the settings name: the local model, or an HTTP endpoint."""
    if settings.embedder == "http":
        from konstruct_memory.embed.http import HttpEmbedder

        if not settings.embedding_url or not settings.embedding_model:
            raise ConfigurationError(
                "KONSTRUCT_MEMORY_EMBEDDER=http needs KONSTRUCT_MEMORY_EMBEDDING_URL and "
                "KONSTRUCT_MEMORY_EMBEDDING_MODEL"
            )
        return HttpEmbedder(
            settings.embedding_url, settings.embedding_model, api_key=settings.embedding_api_key
        )
    from konstruct_memory.embed.model_files import model_dir

    if settings.embedder == "numpy":
        from konstruct_memory.embed.minilm import MiniLMEmbedder

        return MiniLMEmbedder(model_dir(settings), long_text=settings.long_text)
    from konstruct_memory.embed.local import LocalEmbedder

    return LocalEmbedder(model_dir(settings), settings)
