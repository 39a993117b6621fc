"""Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, TEI, Ollama…)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from konstruct_memory.embed.vectors import DIMENSION, Vectors, normalise
from konstruct_memory.errors import EmbeddingUnavailable


class HttpEmbedder:
    """POSTs ``{"model", "input": [...], "dimensions": 384}`` to ``<base_url>/embeddings``.

    ``base_url`` is the API root as OpenAI clients take it, e.g. ``https://api.openai.com/v1``.
    The model must give 384-d vectors (natively or through ``dimensions``); anything else is
    refused rather than stored.
    """

    dimension = DIMENSION

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        batch_size: int = 128,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            out[start : start + len(chunk)] = self._request(chunk)
        return normalise(out) if len(texts) else out

    def _request(self, texts: list[str]) -> Vectors:
        body = {"model": self.model_name, "input": texts, "dimensions": DIMENSION}
        # Messages carry status codes and shapes only: an endpoint's body may echo the input.
        try:
            response = self._client.post("/embeddings", json=body)
        except httpx.HTTPError as exc:
            raise EmbeddingUnavailable(
                f"embedding endpoint unreachable ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            raise EmbeddingUnavailable(f"embedding endpoint answered {response.status_code}")
        try:
            items = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in items], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingUnavailable(
                f"embedding endpoint gave a malformed answer: {exc}"
            ) from exc
        if vectors.shape != (len(texts), DIMENSION):
            raise EmbeddingUnavailable(
                f"embedding endpoint gave shape {vectors.shape}, "
                f"expected ({len(texts)}, {DIMENSION})"
            )
        return vectors

    def close(self) -> None:
        self._client.close()
