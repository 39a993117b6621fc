"""Deterministic stand-ins for the embedding model, so most tests run in milliseconds."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from konstruct_memory.embed import DIMENSION, Vectors, normalise
from konstruct_memory.embed.windows import Windowed, windowed


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


class BagOfWordsEmbedder:
    """Texts sharing words get similar vectors: enough semantics for ranking tests."""

    model_name = "test/bag-of-words"
    dimension = DIMENSION

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row] += np.random.default_rng(_seed(word)).normal(size=DIMENSION)
            out[row, 0] += 1e-3  # never all zero
        return normalise(out)


class BlindEmbedder:
    """Unrelated texts and related texts alike get unrelated vectors: vector search is noise,
    so whatever recall finds, keyword relevance found."""

    model_name = "test/blind"
    dimension = DIMENSION

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = [np.random.default_rng(_seed(t)).normal(size=DIMENSION) for t in texts]
        return normalise(np.asarray(rows, dtype=np.float32).reshape(len(texts), DIMENSION))


class ParagraphWindowsEmbedder(BagOfWordsEmbedder):
    """Bag of words, with each paragraph of a text of several as one window: the text's vector
    is the mean of its paragraphs', and ``embed_windowed`` gives them, as the local models give
    the windows of a text longer than theirs."""

    model_name = "test/paragraph-windows"

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_windowed(texts).vectors

    def embed_windowed(self, texts: Sequence[str]) -> Windowed:
        pieces = [text.split("\n\n") for text in texts]
        flat = [piece for text in pieces for piece in text]
        owners = [i for i, text in enumerate(pieces) for _ in text]
        return windowed(super().embed(flat), owners, len(texts))
