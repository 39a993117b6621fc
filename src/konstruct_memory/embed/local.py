"""The local embedder: a BERT sentence encoder on ONNX Runtime, all-MiniLM-L6-v2 by default.

The graph is built at start from the model's safetensors weights (``onnx_graph``; about half a
second) and run on the CPU, with no PyTorch at build or run time. For all-MiniLM-L6-v2 it gives
the vectors of the NumPy forward pass (``minilm``, kept as the reference: cosine ≥ 0.9999, a
test) at about a third of the time per query and twice the batch throughput (BENCHMARKS.md,
"Embedding throughput"). Another BERT-family model with 384-d output runs from its directory
(``KONSTRUCT_MEMORY_MODEL_PATH``), with its pooling, input length and prefixes
(``ModelConfig``).

Texts are sorted by length and run in batches of similar length, so short chat turns do not
pay for the padding of a long one. The runtime's worker threads sleep rather than spin when
idle: on a small machine a spinning thread takes the core the database needs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from konstruct_memory.config import Settings
from konstruct_memory.embed import length_batches
from konstruct_memory.embed.model_config import ModelConfig
from konstruct_memory.embed.model_files import DIMENSION, model_dir, model_name_of, unusable
from konstruct_memory.embed.onnx_graph import build

Matrix = npt.NDArray[np.float32]


class LocalEmbedder:
    """``embed(texts)`` (stored turns) and ``embed_queries(texts)`` give L2-normalised 384-d
    float32 rows, one per text; they differ only by the model's prefixes, if any."""

    dimension = DIMENSION

    def __init__(
        self,
        path: Path | None = None,
        settings: Settings | None = None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        settings = settings or Settings()
        path = path or model_dir(settings)
        self.batch_size = batch_size
        self.config = ModelConfig.read(path, settings)
        self.model_name = model_name_of(path, settings)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            self._session = ort.InferenceSession(
                build(path, self.config).SerializeToString(),
                options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # damaged files fail in many ways; all mean "reinstall"
            raise unusable(path, exc) from None
        self._tokenizer.enable_truncation(self.config.max_tokens)
        self._tokenizer.no_padding()
        # Tokenizer objects are not safe to share across threads mid-call.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed stored turns; row i is the vector of texts[i]."""
        return self._embed(texts, self.config.passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        """Embed queries (with the model's query prefix, if it has one)."""
        return self._embed(texts, self.config.query_prefix)

    def _embed(self, texts: Sequence[str], prefix: str) -> Matrix:
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            encodings = self._tokenizer.encode_batch([prefix + text for text in texts])
        ids = [e.ids for e in encodings]
        for chunk in length_batches(ids, self.batch_size):
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _forward(self, batch: list[list[int]]) -> Matrix:
        length = max(len(tokens) for tokens in batch)
        token_ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int64)
        for row, tokens in enumerate(batch):
            token_ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        result = self._session.run(["embedding"], {"input_ids": token_ids, "attention_mask": mask})[
            0
        ]
        vectors: Matrix = np.asarray(result, dtype=np.float32)
        return vectors
