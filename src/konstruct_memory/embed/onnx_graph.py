"""A BERT sentence encoder (all-MiniLM-L6-v2 by default) as an ONNX graph, built from its
safetensors weights.

No exported model ships offline and exporting needs PyTorch, so the graph is written out here
with the ``onnx`` helpers, operator by operator, as the BERT encoder the weights belong to:
token, position and type embeddings, layers of self-attention and a GELU feed-forward block
(as many and as wide as ``ModelConfig`` reads), each followed by a residual layer norm, then
mean or first-token pooling and L2 normalisation. Tests hold it to cosine ≥ 0.9999 against
the NumPy forward pass and sentence-transformers.

Inputs: ``input_ids`` and ``attention_mask``, int64 [batch, tokens]. Output: ``embedding``,
float32 [batch, 384], L2-normalised.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from konstruct_memory.embed.model_config import ModelConfig
from konstruct_memory.embed.model_files import load_safetensors

OPSET = 18


class _Graph:
    """Nodes and initialisers, with generated names."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initialisers: list[onnx.TensorProto] = []
        self._count = 0

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initialisers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, name: str, transpose: bool = False) -> str:
        value = self.weights[name]
        return self.constant(name, np.ascontiguousarray(value.T if transpose else value))

    def op(self, kind: str, *inputs: str, **attributes: Any) -> str:
        self._count += 1
        output = f"{kind.lower()}_{self._count}"
        self.nodes.append(helper.make_node(kind, list(inputs), [output], **attributes))
        return output

    def linear(self, x: str, prefix: str) -> str:
        product = self.op("MatMul", x, self.weight(prefix + ".weight", transpose=True))
        return self.op("Add", product, self.weight(prefix + ".bias"))

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        return self.op(
            "LayerNormalization",
            x,
            self.weight(prefix + ".weight"),
            self.weight(prefix + ".bias"),
            axis=-1,
            epsilon=eps,
        )


def build(model_dir: Path, config: ModelConfig) -> onnx.ModelProto:
    """The encoder of ``config``'s shape with the weights of ``model_dir/model.safetensors``."""
    width, eps = config.width, config.layer_norm_eps
    head = width // config.heads
    weights = {
        k.removeprefix("bert."): v
        for k, v in load_safetensors(model_dir / "model.safetensors").items()
    }
    g = _Graph(weights)
    length = g.op("Gather", g.op("Shape", "input_ids"), g.constant("one_index", np.array(1)))
    positions = g.op(
        "Range",
        g.constant("zero", np.array(0, dtype=np.int64)),
        length,
        g.constant("step", np.array(1, dtype=np.int64)),
    )
    x = g.op(
        "Add",
        g.op(
            "Add",
            g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids"),
            g.op("Gather", g.weight("embeddings.position_embeddings.weight"), positions),
        ),
        g.constant("token_type", weights["embeddings.token_type_embeddings.weight"][0]),
    )
    x = g.layer_norm(x, "embeddings.LayerNorm", eps)
    # Padding keys get a large negative score, so softmax gives them no weight.
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    bias = g.op(
        "Mul",
        g.op("Sub", g.constant("one", np.array(1.0, dtype=np.float32)), mask),
        g.constant("minus_big", np.array(-1e9, dtype=np.float32)),
    )
    bias = g.op("Unsqueeze", bias, g.constant("axes_1_2", np.array([1, 2])))
    heads_shape = g.constant("heads_shape", np.array([0, 0, config.heads, head]))
    flat_shape = g.constant("flat_shape", np.array([0, 0, width]))
    scale = g.constant("scale", np.array(1.0 / math.sqrt(head), dtype=np.float32))
    sqrt2 = g.constant("sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    half = g.constant("half", np.array(0.5, dtype=np.float32))

    def gelu(t: str) -> str:
        """GELU in its exact (erf) form, as BERT defines it."""
        erf = g.op("Erf", g.op("Div", t, sqrt2))
        return g.op("Mul", g.op("Mul", t, half), g.op("Add", erf, "one"))

    for i in range(config.layers):
        p = f"encoder.layer.{i}."

        def heads(t: str) -> str:
            return g.op("Transpose", g.op("Reshape", t, heads_shape), perm=[0, 2, 1, 3])

        q = heads(g.linear(x, p + "attention.self.query"))
        k = heads(g.linear(x, p + "attention.self.key"))
        v = heads(g.linear(x, p + "attention.self.value"))
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), scale)
        attention = g.op("Softmax", g.op("Add", scores, bias), axis=-1)
        context = g.op("Transpose", g.op("MatMul", attention, v), perm=[0, 2, 1, 3])
        context = g.op("Reshape", context, flat_shape)
        x = g.layer_norm(
            g.op("Add", x, g.linear(context, p + "attention.output.dense")),
            p + "attention.output.LayerNorm",
            eps,
        )
        hidden = gelu(g.linear(x, p + "intermediate.dense"))
        x = g.layer_norm(
            g.op("Add", x, g.linear(hidden, p + "output.dense")), p + "output.LayerNorm", eps
        )
    if config.pooling == "cls":  # the first token's state
        pooled = g.op("Gather", x, g.constant("first", np.array(0)), axis=1)
    else:  # the mean over real tokens
        weighted = g.op("Mul", x, g.op("Unsqueeze", mask, g.constant("axis_2", np.array([2]))))
        summed = g.op("ReduceSum", weighted, g.constant("axis_1", np.array([1])), keepdims=0)
        counts = g.op("ReduceSum", mask, g.constant("axis_1b", np.array([1])), keepdims=1)
        pooled = g.op("Div", summed, counts)
    # Unit length.
    norm = g.op("ReduceL2", pooled, g.constant("axis_1c", np.array([1])), keepdims=1)
    floor = g.constant("floor", np.array(1e-12, dtype=np.float32))
    g.nodes.append(helper.make_node("Div", [pooled, g.op("Max", norm, floor)], ["embedding"]))
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", width])],
        g.initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model
