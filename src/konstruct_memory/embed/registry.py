"""The embedders of the models in use: the configured one, and the local models tenants
switched to (``model switch``), each loaded once, on first use, from the directory its tenant's
row names.

A query must be embedded with the model whose vectors it is compared with, so a process that
serves tenants on different models needs one embedder per model. The configured embedder
answers for its own name; another model is a local BERT-family directory of 384-d output, read
with its own pooling and prefixes (the configured model's prefix settings do not apply to it).
"""

from __future__ import annotations

import threading
from pathlib import Path

from konstruct_memory.config import Settings
from konstruct_memory.embed.vectors import DIMENSION, Embedder
from konstruct_memory.errors import ConfigurationError


class Embedders:
    """The configured embedder, and the other models' by (name, directory), loaded lazily."""

    def __init__(self, configured: Embedder, settings: Settings) -> None:
        self.configured = configured
        self._settings = settings
        self._loaded: dict[tuple[str, str], Embedder] = {}
        self._lock = threading.Lock()

    def get(self, model: str, path: str | None) -> Embedder:
        """The embedder of ``model``, whose files are in ``path`` unless it is the configured
        model. Refused, in one line, if the files hold another model or none this process
        can read."""
        if model == self.configured.model_name:
            return self.configured
        if path is None:
            raise ConfigurationError(
                f"vectors of {model!r} are asked for, but this process embeds with "
                f"{self.configured.model_name!r} and knows no directory of {model!r}"
            )
        with self._lock:  # a model loads in about a second: once, whoever asks first
            embedder = self._loaded.get((model, path))
            if embedder is None:
                embedder = load(Path(path), self._settings)
                if embedder.model_name != model:
                    raise ConfigurationError(
                        f"{path} holds the model {embedder.model_name!r}, not {model!r}"
                    )
                self._loaded[(model, path)] = embedder
        return embedder


def load(path: Path, settings: Settings) -> Embedder:
    """A local model from its directory, named as its files say (``local/<directory>``, or
    all-MiniLM-L6-v2's own name for its files), with its own prefixes: the configured model's
    name and prefix settings are about the configured model only."""
    from konstruct_memory.embed.local import LocalEmbedder

    if not path.is_dir():
        raise ConfigurationError(f"{path} is not a model directory")
    own = settings.model_copy(
        update={
            "model_path": path.resolve(),
            "embedding_model": None,
            "query_prefix": None,
            "passage_prefix": None,
        }
    )
    embedder = LocalEmbedder(path.resolve(), own)
    if embedder.dimension != DIMENSION:  # the model's config refuses it first; kept as a guard
        raise ConfigurationError(f"{path}: {embedder.dimension}-d vectors, the store holds 384-d")
    return embedder
