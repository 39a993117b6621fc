"""What every embedder shares: the ``Embedder`` protocol, the 384-d float32 vectors it returns,
their normalisation, and batches of texts of similar length."""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

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
