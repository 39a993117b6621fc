"""Another 384-d BERT-family model without a model hub: all-MiniLM-L6-v2's first two layers,
first-token pooling and e5-style query and passage prompts, as a complete sentence-transformers
directory. The embedder tests, the model switch's tests and its benchmark use it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from konstruct_memory.embed.model_files import load_safetensors

_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """``tensors`` as float32 in the safetensors format."""
    header: dict[str, Any] = {}
    offset = 0
    blobs = []
    for name, value in tensors.items():
        blob = np.ascontiguousarray(value, dtype=np.float32).tobytes()
        span = [offset, offset + len(blob)]
        header[name] = {"dtype": "F32", "shape": list(value.shape), "data_offsets": span}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header).encode()
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + b"".join(blobs))


def build_tiny_model(source: Path, directory: Path) -> Path:
    """The two-layer model in ``directory`` (created), from the MiniLM files in ``source``."""
    directory.mkdir(parents=True)
    for name in _TOKENIZER_FILES:
        shutil.copy(source / name, directory / name)
    config = json.loads((source / "config.json").read_text()) | {"num_hidden_layers": 2}
    (directory / "config.json").write_text(json.dumps(config))
    weights = {
        name: value
        for name, value in load_safetensors(source / "model.safetensors").items()
        if ".layer." not in name or name.split(".layer.")[1].split(".")[0] in ("0", "1")
    }
    write_safetensors(directory / "model.safetensors", weights)
    (directory / "1_Pooling").mkdir()
    pooling = {"word_embedding_dimension": 384, "pooling_mode_cls_token": True,
               "pooling_mode_mean_tokens": False}  # fmt: skip
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    prompts = {"prompts": {"query": "query: ", "document": "passage: "}}
    (directory / "config_sentence_transformers.json").write_text(json.dumps(prompts))
    kinds = ["Transformer", "Pooling", "Normalize"]
    paths = ["", "1_Pooling", "2_Normalize"]
    modules = [
        {"idx": i, "name": str(i), "path": paths[i], "type": f"sentence_transformers.models.{k}"}
        for i, k in enumerate(kinds)
    ]
    (directory / "modules.json").write_text(json.dumps(modules))
    return directory
