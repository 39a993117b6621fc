"""all-MiniLM-L6-v2 in NumPy: the reference forward pass (``KONSTRUCT_MEMORY_EMBEDDER=numpy``);
the default runs the same model on ONNX Runtime (``local``), tested against this one.

The weights and tokenizer are those of ``model_files`` (a copy of
sentence-transformers/all-MiniLM-L6-v2). The forward pass is the BERT encoder written out in
NumPy (6 layers, 384 wide, 12 heads), then mean pooling over real tokens and L2
normalisation, as the sentence-transformers pipeline of that model does. A test holds it to
cosine ≥ 0.999 against the reference implementation.

Texts are sorted by length and embedded in batches of similar length, so short chat turns do
not pay for the padding of a long one. A stored text longer than the model's window is
embedded whole, as overlapping windows pooled into one vector (``windows``), as the ONNX
embedder does; queries are read from their start. A single text (a recall's query) runs BLAS on one
thread: its matrices are too small to split, and on a small machine the second thread only
competes with the database working on the same request (BENCHMARKS.md, HTTP).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController
from tokenizers import Tokenizer

from konstruct_memory.embed.model_config import ModelConfig
from konstruct_memory.embed.model_files import (
    DIMENSION,
    MAX_TOKENS,
    MODEL_NAME,
    load_safetensors,
    model_dir,
)
from konstruct_memory.embed.vectors import length_batches, normalise
from konstruct_memory.embed.windows import LongText, Windowed, plan, pool, windowed
from konstruct_memory.errors import ConfigurationError

__all__ = ["DIMENSION", "MAX_TOKENS", "MODEL_NAME", "MiniLMEmbedder", "model_dir"]

_LAYERS = 6
_HEADS = 12
_LAYER_NORM_EPS = 1e-12

Matrix = npt.NDArray[np.float32]


class _OneBlasThread:
    """While any single-text embedding runs, BLAS uses one thread (a process-wide setting).

    Counted, so that overlapping callers restore the original thread count only when the last
    one leaves: a plain limiter per call could leave the process stuck on one thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._controller: ThreadpoolController | None = None
        self._limiter: Any = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._active == 0:
                self._controller = self._controller or ThreadpoolController()
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    self._limiter.restore_original_limits()


_one_blas_thread = _OneBlasThread()


class MiniLMEmbedder:
    """The default local embedder: ``embed(texts)`` gives L2-normalised 384-d float32 rows."""

    model_name = MODEL_NAME
    dimension = DIMENSION

    def __init__(
        self, path: Path | None = None, *, batch_size: int = 32, long_text: LongText = "whole"
    ) -> None:
        path = path or model_dir()
        shape = ModelConfig.read(path)
        if (shape.layers, shape.heads, shape.pooling) != (_LAYERS, _HEADS, "mean"):
            raise ConfigurationError(
                f"{path}: the NumPy forward pass runs all-MiniLM-L6-v2 only; use the default "
                "embedder (KONSTRUCT_MEMORY_EMBEDDER=local) for other models"
            )
        self.batch_size = batch_size
        self.long_text = long_text
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # Untruncated: ``windows`` cuts long texts (and truncates queries) itself.
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        weights = load_safetensors(path / "model.safetensors")
        self._w = {k.removeprefix("bert."): v for k, v in weights.items()}
        # Linear layers are stored (out, in); transpose once so the hot path is x @ W.
        for key in [k for k in self._w if k.endswith(".weight") and self._w[k].ndim == 2]:
            if "embeddings" not in key:
                self._w[key] = np.ascontiguousarray(self._w[key].T)
        # Tokenizer objects are not safe to share across threads mid-call.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed stored turns; row i is the vector of texts[i]."""
        return pool(*self._embed(texts, self.long_text), len(texts))

    def embed_windowed(self, texts: Sequence[str]) -> Windowed:
        """``embed``, with the window vectors of the texts longer than one window."""
        vectors, owners = self._embed(texts, self.long_text)
        return windowed(vectors, owners, len(texts))

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        """Embed queries: as turns, but a query longer than the window is read from its start."""
        return pool(*self._embed(texts, "first_window"), len(texts))

    def _embed(self, texts: Sequence[str], mode: LongText) -> tuple[Matrix, list[int]]:
        """One row per window run, and for each the index of its text."""
        if not texts:
            return np.empty((0, DIMENSION), dtype=np.float32), []
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        sequences, owners = plan(encodings, 0, MAX_TOKENS, mode)
        ids = [np.asarray(s, dtype=np.int64) for s in sequences]
        out = np.empty((len(ids), DIMENSION), dtype=np.float32)
        if len(ids) == 1:
            with _one_blas_thread():
                out[0] = self._forward(ids)[0]
            return out, owners
        for chunk in length_batches(ids, self.batch_size):
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out, owners

    def _forward(self, batch: list[npt.NDArray[np.int64]]) -> Matrix:
        w = self._w
        n, length = len(batch), max(len(t) for t in batch)
        token_ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, tokens in enumerate(batch):
            token_ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0

        x = (
            w["embeddings.word_embeddings.weight"][token_ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        # Padding keys get a large negative score so softmax gives them no weight.
        attention_bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        head = DIMENSION // _HEADS
        scale = 1.0 / math.sqrt(head)
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            q = _linear(x, w, p + "attention.self.query")
            k = _linear(x, w, p + "attention.self.key")
            v = _linear(x, w, p + "attention.self.value")
            q, k, v = (t.reshape(n, length, _HEADS, head).transpose(0, 2, 1, 3) for t in (q, k, v))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + attention_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, DIMENSION)
            x = _layer_norm(
                x + _linear(context, w, p + "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            hidden = _gelu(_linear(x, w, p + "intermediate.dense"))
            x = _layer_norm(
                x + _linear(hidden, w, p + "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return normalise(pooled)


def _linear(x: Matrix, w: dict[str, Matrix], name: str) -> Matrix:
    # One 2-D GEMM over all tokens: NumPy loops over leading axes of a 3-D matmul instead.
    weight = w[name + ".weight"]
    flat = x.reshape(-1, x.shape[-1]) @ weight
    flat += w[name + ".bias"]
    result: Matrix = flat.reshape(*x.shape[:-1], weight.shape[1])
    return result


def _layer_norm(x: Matrix, gamma: Matrix, beta: Matrix) -> Matrix:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    result: Matrix = (x - mean) / np.sqrt(var + _LAYER_NORM_EPS) * gamma + beta
    return result


_GELU_C = np.float32(math.sqrt(2.0 / math.pi))


def _gelu(x: Matrix) -> Matrix:
    """GELU, tanh form (within 1e-3 of the erf form; the cosine test bounds the effect)."""
    inner = x * x
    inner *= np.float32(0.044715)
    inner += 1.0
    inner *= x
    inner *= _GELU_C
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= x
    inner *= np.float32(0.5)
    return inner
