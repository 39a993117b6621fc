"""What a local sentence-transformers model is, read from its directory: the BERT encoder's
shape, its pooling, its input length and its query and passage prefixes.

Any BERT-family model with 384-d output runs on the ONNX graph (all-MiniLM-L6-v2, bge-small,
e5-small, arctic-embed-xs …): the store's vectors are 384-d. The prefixes come from the
model's ``config_sentence_transformers.json`` prompts ("query", "document" or "passage"), or
from the settings, which win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from konstruct_memory.config import Settings
from konstruct_memory.embed.model_files import DIMENSION
from konstruct_memory.errors import ConfigurationError


@dataclass(frozen=True)
class ModelConfig:
    layers: int
    heads: int
    width: int
    layer_norm_eps: float
    pooling: Literal["mean", "cls"]
    max_tokens: int
    query_prefix: str = ""
    passage_prefix: str = ""

    @classmethod
    def read(cls, directory: Path, settings: Settings | None = None) -> ModelConfig:
        config = _json(directory / "config.json")
        if config is None:
            raise ConfigurationError(f"{directory}: no config.json, not a model directory")
        where = f"{directory}/config.json"
        if config.get("model_type", "bert") != "bert" or config.get("hidden_act", "gelu") != "gelu":
            raise ConfigurationError(
                f"{where}: only BERT-family encoders with GELU run locally (model_type "
                f"{config.get('model_type')!r}); use KONSTRUCT_MEMORY_EMBEDDER=http for others"
            )
        width = int(config["hidden_size"])
        if width != DIMENSION:
            raise ConfigurationError(
                f"{where}: the model gives {width}-d vectors; the store holds {DIMENSION}-d ones"
            )
        pooling = _json(directory / "1_Pooling" / "config.json") or {}
        st_config = _json(directory / "sentence_bert_config.json") or {}
        prompts = (_json(directory / "config_sentence_transformers.json") or {}).get(
            "prompts"
        ) or {}
        settings = settings or Settings()
        query = settings.query_prefix
        passage = settings.passage_prefix
        return cls(
            layers=int(config["num_hidden_layers"]),
            heads=int(config["num_attention_heads"]),
            width=width,
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
            pooling="cls" if pooling.get("pooling_mode_cls_token") else "mean",
            max_tokens=min(
                int(st_config.get("max_seq_length", 512)),
                int(config.get("max_position_embeddings", 512)),
            ),
            query_prefix=query if query is not None else str(prompts.get("query", "")),
            passage_prefix=passage
            if passage is not None
            else str(prompts.get("document", prompts.get("passage", ""))),
        )


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path}: cannot be read as JSON ({exc})") from None
