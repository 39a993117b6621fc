"""Throughput of the default embedder (ONNX Runtime) on this machine, batch and single, with
the NumPy forward pass and the reference implementation (sentence-transformers on PyTorch,
when installed) measured in the same run.

    python bench/embedding_throughput.py ../shared/data/locomo-dev.json [--n 600]

Texts are real chat turns ("<speaker>: <text>") from a LoCoMo-format file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from konstruct_memory.embed.local import LocalEmbedder
from konstruct_memory.embed.minilm import MiniLMEmbedder, model_dir


def chat_turns(path: Path, n: int) -> list[str]:
    texts = []
    for sample in json.loads(path.read_text()):
        conv = sample["conversation"]
        session = 1
        while f"session_{session}" in conv:
            texts += [f"{t['speaker']}: {t['text']}" for t in conv[f"session_{session}"]]
            session += 1
    return texts[:n]


def measure(name: str, embed: Callable[[Sequence[str]], object], texts: list[str]) -> None:
    embed(texts[:8])  # warm up
    started = time.perf_counter()
    embed(texts)
    batch_rate = len(texts) / (time.perf_counter() - started)
    singles = []
    for text in texts[:200]:
        t = time.perf_counter()
        embed([text])
        singles.append((time.perf_counter() - t) * 1000)
    singles.sort()
    print(
        f"{name}: batch {batch_rate:.0f} sentences/s; single median "
        f"{statistics.median(singles):.1f} ms, p95 {singles[int(0.95 * len(singles))]:.1f} ms "
        f"({1000 / statistics.median(singles):.0f} sentences/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--n", type=int, default=600)
    args = parser.parse_args()
    texts = chat_turns(args.path, args.n)
    print(f"{len(texts)} chat turns")
    measure("konstruct-memory ONNX Runtime MiniLM (default)", LocalEmbedder().embed, texts)
    measure("konstruct-memory NumPy MiniLM", MiniLMEmbedder().embed, texts)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print("sentence-transformers not installed: no reference figure")
        return
    reference = SentenceTransformer(str(model_dir()), device="cpu")
    measure(
        "sentence-transformers (PyTorch)",
        lambda batch: reference.encode(list(batch), batch_size=32),
        texts,
    )


if __name__ == "__main__":
    main()
