"""The local embedder: a BERT sentence encoder on ONNX Runtime, all-MiniLM-L6-v2 by default.

The graph is built at start from the model's safetensors weights (``onnx_graph``; about half a
second) and run on the CPU, with no PyTorch at build or run time. For all-MiniLM-L6-v2 it gives
the vectors of the NumPy forward pass (``minilm``, kept as the reference: cosine ≥ 0.9999, a
test) at about a third of the time per query and twice the batch throughput (BENCHMARKS.md,
"Embedding throughput"). Another BERT-family model with 384-d output runs from its directory
(``KONSTRUCT_MEMORY_MODEL_PATH``), with its pooling, input length and prefixes
(``ModelConfig``).

Texts are sorted by length and run in batches of similar length, so short chat turns do not
pay for the padding of a long one. A stored text longer than the model's window is embedded
whole, as overlapping windows pooled into one vector (``windows``); queries are read from
their start. The runtime's worker threads sleep rather than spin when
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
from konstruct_memory.embed.model_config import ModelConfig
from konstruct_memory.embed.model_files import DIMENSION, model_dir, model_name_of, unusable
from konstruct_memory.embed.onnx_graph import build
from konstruct_memory.embed.vectors import length_batches
from konstruct_memory.embed.windows import LongText, Windowed, plan, pool, windowed

Matrix = npt.NDArray[np.float32]


class LocalEmbedder:
    """``embed(texts)`` (stored turns) and ``embed_queries(texts)`` give L2-normalised 384-d
    float32 rows, one per text; they differ by the model's prefixes, if any, and in that a
    query longer than the model's window is read from its start (``long_text`` says how a
    stored text is: ``whole``, the default from the settings, or ``first_window``)."""

    dimension = DIMENSION

    def __init__(
        self,
        path: Path | None = None,
        settings: Settings | None = None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        long_text: LongText | None = None,
    ) -> None:
        settings = settings or Settings()
        path = path or model_dir(settings)
        self.batch_size = batch_size
        self.long_text: LongText = long_text or settings.long_text
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
        # Untruncated: ``windows`` cuts long texts (and truncates queries) itself.
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._prefix_tokens = {
            prefix: len(self._tokenizer.encode(prefix, add_special_tokens=False).ids)
            for prefix in {self.config.passage_prefix, self.config.query_prefix}
        }
        # Tokenizer objects are not safe to share across threads mid-call.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed stored turns; row i is the vector of texts[i]."""
        return pool(*self._embed(texts, self.config.passage_prefix, self.long_text), len(texts))

    def embed_windowed(self, texts: Sequence[str]) -> Windowed:
        """``embed``, with the window vectors of the texts longer than one window."""
        vectors, owners = self._embed(texts, self.config.passage_prefix, self.long_text)
        return windowed(vectors, owners, len(texts))

    def embed_queries(self, texts: Sequence[str]) -> Matrix:
        """Embed queries (with the model's query prefix, if it has one)."""
        return pool(*self._embed(texts, self.config.query_prefix, "first_window"), len(texts))

    def _embed(self, texts: Sequence[str], prefix: str, mode: LongText) -> tuple[Matrix, list[int]]:
        """One row per window run, and for each the index of its text."""
        if not texts:
            return np.empty((0, DIMENSION), dtype=np.float32), []
        with self._lock:
            encodings = self._tokenizer.encode_batch([prefix + text for text in texts])
        sequences, owners = plan(
            encodings, self._prefix_tokens[prefix], self.config.max_tokens, mode
        )
        out = np.empty((len(sequences), DIMENSION), dtype=np.float32)
        for chunk in length_batches(sequences, self.batch_size):
            out[chunk] = self._forward([sequences[i] for i in chunk])
        return out, owners

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
