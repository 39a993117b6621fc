"""Embedders: turn texts into 384-d vectors. The store records each row's model name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from konstruct_memory.config import Settings
from konstruct_memory.errors import ConfigurationError

DIMENSION = 384

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """What memory needs of an embedding model."""

    @property
    def model_name(self) -> str:
        """Recorded with every stored row; searches compare only vectors of this model."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised float32 row per text, in order."""
        ...


def length_batches(token_ids: Sequence[Sized], size: int) -> Iterator[list[int]]:
    """Indexes of ``token_ids`` in batches of similar length, so that short texts do not pay
    for the padding of a long one."""
    order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
    for start in range(0, len(order), size):
        yield order[start : start + size]


def normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


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
