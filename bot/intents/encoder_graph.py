"""Build the all-MiniLM-L6-v2 ONNX export again as a compact graph that runs faster.

The shipped export stores its weights as int8 with one scale per output column, but its
graph dequantises them to float32 and runs float32 MatMuls, wrapped in ~300 small nodes of
exporter plumbing (attention masks, shape arithmetic, transposes). One message of ~14
tokens therefore streams 42 MB of float32 weights through six layers. The rebuilt graph has
the same weights and the same layers in 167 nodes (the export runs 309):

* weight MatMuls as ``MatMulNBits`` with 8-bit weights (the stored int8 values, offset by
  128) and ``accuracy_level=4``: onnxruntime quantises the activations per block of 64
  values and multiplies int8 by int8 (VNNI on x86);
* four hidden channels that carry the [CLS] token's outliers after every LayerNorm (up to
  ±30 where the rest stay within ±4) are taken out of the quantised product and multiplied
  in float32, so that one value does not set the quantisation step of its whole block;
* attention as one ``MultiHeadAttention`` node, GELU as ``BiasGelu``;
* word embeddings gathered as int8 and scaled per row, so the 47 MB float32 table is never
  materialised.

The embeddings stay within cosine 0.999 of the export's (per-tensor dynamic quantisation,
the usual int8 route, reaches only 0.97-0.99 here because of those outliers).
``int8_matmuls=False`` keeps float32 MatMuls (dequantised weights): the same arithmetic as
the export, used by the tests to check that the graph is wired like the original.
docs/benchmarks-intents.md has the measurements (node counts, block sizes, latency).

Graphs are written with the ``onnx`` package. A process builds one only when its model
directory lacks the file (:mod:`bot.intents.encoder_files`), or when it tunes the last
layer (:func:`build_last_layer_graph`, saved with the trained classifier).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper, numpy_helper

from bot.intents.encoder_layout import (
    DENSE_ROLES,
    HEADS,
    HIDDEN,
    LAST_FLOAT,
    LAST_LAYER_ROLES,
    LAYERS,
    hidden_state_name,
)

__all__ = ["LAST_LAYER_ROLES", "LAYERS", "GraphLayoutError", "build_encoder_graph",
           "build_last_layer_graph", "hidden_state_name", "last_layer_parameters", "read_model"]

# MatMulNBits block along K: 64 measured faster than 16/32 and as accurate as 128.
_BLOCK = 64
# Hidden channels with the largest |activation| after the LayerNorms on 400 BANKING77
# training texts; the same four lead in every layer (the [CLS] row's outliers).
_OUTLIER_CHANNELS = (99, 63, 223, 338)
_EPSILON = 1e-12
_EMB = "inner.embeddings."
_BIAS = re.compile(r"inner\.encoder\.layer\.(\d+)\.(.+)\.bias")
_OPSETS = (helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1))

Arrays = dict[str, npt.NDArray[np.generic]]
Attribute = int | float | Sequence[int]


class GraphLayoutError(ValueError):
    """The ONNX file is not laid out like the all-MiniLM-L6-v2 export this expects."""


def _f32(a: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    return np.asarray(a, dtype=np.float32)


def read_model(data: bytes) -> tuple[Arrays, list[onnx.NodeProto]]:
    """The initializers (by name) and the nodes (in graph order) of a serialised model."""
    try:
        graph = onnx.load_model_from_string(data).graph
    except DecodeError as exc:
        raise GraphLayoutError(f"not an ONNX model: {exc}") from exc
    return {t.name: numpy_helper.to_array(t) for t in graph.initializer}, list(graph.node)


def _dense_weights(tensors: Arrays, nodes: list[onnx.NodeProto]) -> dict[tuple[int, str], str]:
    """Map (layer, role) to the name of the int8 weight, found as ``MatMul(x, W)`` followed
    by ``Add(.., <layer>.<module>.bias)`` (the export's own names are meaningless)."""
    matmul_weight = {
        n.output[0]: n.input[1]
        for n in nodes
        if n.op_type == "MatMul" and n.input[1] + "_q" in tensors
    }
    found: dict[tuple[int, str], str] = {}
    for n in nodes:
        if n.op_type != "Add" or len(n.input) != 2 or n.input[0] not in matmul_weight:
            continue
        match = _BIAS.fullmatch(n.input[1])
        if match and match.group(2) in DENSE_ROLES:
            found[(int(match.group(1)), DENSE_ROLES[match.group(2)])] = matmul_weight[n.input[0]]
    if len(found) != LAYERS * len(DENSE_ROLES):
        raise GraphLayoutError(f"found {len(found)} of {LAYERS * len(DENSE_ROLES)} dense layers")
    return found


class _Builder:
    def __init__(self, tensors: Mapping[str, npt.NDArray[np.generic]], int8_matmuls: bool,
                 ) -> None:
        self.tensors = tensors
        self.int8 = int8_matmuls
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._split: dict[str, tuple[str, str]] = {}

    def const(self, name: str, array: npt.NDArray[np.generic]) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def param(self, name: str) -> str:
        """A float parameter of the export, under its own name."""
        return self.const(name, _f32(self.tensors[name]))

    def op(self, op_type: str, inputs: list[str], output: str, domain: str = "",
           **attributes: Attribute) -> str:
        node = helper.make_node(op_type, inputs, [output], name=output, domain=domain or None)
        node.attribute.extend(helper.make_attribute(k, v) for k, v in sorted(attributes.items()))
        self.nodes.append(node)
        return output

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
              name: str) -> bytes:
        """The serialised model of the nodes and constants made so far."""
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=_OPSETS, ir_version=8,
                                  producer_name="messaging-bot")
        data: bytes = model.SerializeToString()
        return data

    def dense(self, x: str, weight: str, output: str, *, outliers: bool = False) -> str:
        """``x @ W`` without the bias, W being the export's int8 weight ``weight``;
        ``outliers``: ``x`` is a LayerNorm output, whose outlier channels stay float32."""
        q = self.tensors[weight + "_q"].astype(np.int8)
        scale = _f32(self.tensors[weight + "_scale"]).reshape(-1)
        k, n = q.shape
        if not self.int8:
            w = q.astype(np.float32) * scale[None, :]
            return self.op("MatMul", [x, self.const(output + ".w", w)], output)
        if outliers:
            rest, picked = self._split_outliers(x)
            w = q[list(_OUTLIER_CHANNELS)].astype(np.float32) * scale[None, :]
            exact = self.op("MatMul", [picked, self.const(output + ".w32", w)], output + ".f32")
            main = self.dense(rest, weight, output + ".int8")
            return self.op("Add", [main, exact], output)
        blocks = k // _BLOCK
        # MatMulNBits wants B as [N, blocks, block] unsigned; its default zero point is 128.
        packed = (q.T.astype(np.int16) + 128).astype(np.uint8).reshape(n, blocks, _BLOCK)
        scales = np.repeat(scale[:, None], blocks, axis=1).reshape(-1)
        inputs = [x, self.const(output + ".w", packed), self.const(output + ".s", scales)]
        return self.op("MatMulNBits", inputs, output, "com.microsoft", K=k, N=n, bits=8,
                       block_size=_BLOCK, accuracy_level=4)

    def _split_outliers(self, x: str) -> tuple[str, str]:
        """(``x`` with the outlier channels zeroed, those channels alone), made once per x."""
        if x not in self._split:
            keep = np.ones(HIDDEN, dtype=np.float32)
            keep[list(_OUTLIER_CHANNELS)] = 0
            rest = self.op("Mul", [x, self.const(x + ".keep", keep)], x + ".rest")
            index = self.const(x + ".outliers", np.asarray(_OUTLIER_CHANNELS, dtype=np.int64))
            picked = self.op("Gather", [x, index], x + ".picked", axis=-1)
            self._split[x] = (rest, picked)
        return self._split[x]

    def layer_norm(self, x: str, prefix: str, output: str) -> str:
        # Add + LayerNormalization measured faster than the fused SkipLayerNormalization.
        inputs = [x, self.param(prefix + ".weight"), self.param(prefix + ".bias")]
        return self.op("LayerNormalization", inputs, output, axis=-1, epsilon=_EPSILON)

    def embeddings(self, output: str) -> str:
        t = self.tensors
        rows = self.op("Gather", [self.const("word.q", t[_EMB + "word_embeddings.weight_q"]),
                                  "input_ids"], "word.rows")
        scales = self.op("Gather", [self.const("word.s", _f32(
            t[_EMB + "word_embeddings.weight_scale"])), "input_ids"], "word.scales")
        word = self.op("Mul", [self.op("Cast", [rows], "word.f", to=TensorProto.FLOAT), scales],
                       "word")
        positions = _f32(t[_EMB + "position_embeddings.weight_q"]) * _f32(
            t[_EMB + "position_embeddings.weight_scale"])
        length = self.op("Shape", ["input_ids"], "length", start=1, end=2)
        pos = self.op("Slice", [self.const("positions", positions),
                                self.const("zero", np.zeros(1, np.int64)), length,
                                "zero"], "pos")
        types = self.op("Gather", [self.param(_EMB + "token_type_embeddings.weight"),
                                   "token_type_ids"], "types")
        summed = self.op("Add", [self.op("Add", [word, types], "word+types"), pos], "emb.sum")
        return self.layer_norm(summed, _EMB + "LayerNorm", output)

    def encoder_layer(self, x: str, layer: int, weights: dict[tuple[int, str], str],
                      mask: str, output: str) -> str:
        p = f"inner.encoder.layer.{layer}."
        q, k, v = (self.dense(x, weights[(layer, r)], f"{layer}.{r}", outliers=True)
                   for r in "qkv")
        bias = np.concatenate([_f32(self.tensors[p + f"attention.self.{m}.bias"])
                               for m in ("query", "key", "value")])
        attended = self.op("MultiHeadAttention",
                           [q, k, v, self.const(f"{layer}.qkv.bias", bias), mask],
                           f"{layer}.attention", "com.microsoft", num_heads=HEADS)
        o = self.dense(attended, weights[(layer, "o")], f"{layer}.o")
        o = self.op("Add", [o, self.param(p + "attention.output.dense.bias")], f"{layer}.o+b")
        h = self.layer_norm(self.op("Add", [o, x], f"{layer}.res1"),
                            p + "attention.output.LayerNorm", f"{layer}.h")
        up = self.dense(h, weights[(layer, "f1")], f"{layer}.f1", outliers=True)
        gelu = self.op("BiasGelu", [up, self.param(p + "intermediate.dense.bias")],
                       f"{layer}.gelu", "com.microsoft")
        down = self.dense(gelu, weights[(layer, "f2")], f"{layer}.f2")
        down = self.op("Add", [down, self.param(p + "output.dense.bias")], f"{layer}.f2+b")
        return self.layer_norm(self.op("Add", [down, h], f"{layer}.res2"),
                               p + "output.LayerNorm", output)


def last_layer_parameters(export: bytes) -> dict[str, npt.NDArray[np.float32]]:
    """The last encoder layer's parameters in float32 (weights dequantised), by role."""
    tensors, nodes = read_model(export)
    weights = _dense_weights(tensors, nodes)
    out = {role: _f32(tensors[weights[(LAYERS - 1, role)] + "_q"])
           * _f32(tensors[weights[(LAYERS - 1, role)] + "_scale"]).reshape(1, -1)
           for role in DENSE_ROLES.values()}
    prefix = f"inner.encoder.layer.{LAYERS - 1}."
    out.update({role: _f32(tensors[prefix + name]) for role, name in LAST_FLOAT.items()})
    return out


def _last_layer_tensors(params: Mapping[str, npt.NDArray[np.float32]],
                        ) -> tuple[Arrays, dict[tuple[int, str], str]]:
    """The last layer's ``params`` as the builder reads the export's tensors, and the names
    of its weights; the weights are quantised as the export's are (int8, one symmetric
    scale per output column)."""
    tensors: Arrays = {}
    weights: dict[tuple[int, str], str] = {}
    for role in DENSE_ROLES.values():
        w = _f32(params[role])
        scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
        tensors[role + "_q"] = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        tensors[role + "_scale"] = scale.reshape(1, -1).astype(np.float32)
        weights[(LAYERS - 1, role)] = role
    prefix = f"inner.encoder.layer.{LAYERS - 1}."
    tensors.update({prefix + name: _f32(params[role]) for role, name in LAST_FLOAT.items()})
    return tensors, weights


def build_encoder_graph(
    export: bytes, *, int8_matmuls: bool = True, hidden_layers: Sequence[int] = (),
    layers: int = LAYERS,
) -> bytes:
    """A serialised ONNX model equivalent to ``export`` (same inputs: int64 ``input_ids``,
    ``attention_mask``, ``token_type_ids`` of shape [batch, seq]; same output
    ``last_hidden_state`` [batch, seq, 384]), built as described in the module docstring.

    ``hidden_layers`` (1-based, 0 = embeddings) adds the hidden states after those layers as
    further outputs (:func:`hidden_state_name`): they are computed anyway, so exposing them
    costs only the copy out of the session. ``layers`` < 6 stops after that many layers,
    whose states are then the only output (what a tuned last layer starts from).
    """
    if not 1 <= layers <= LAYERS:
        raise ValueError(f"layers must be in 1..{LAYERS}")
    extra = sorted(set(hidden_layers) - {LAYERS})
    if any(not 0 <= layer < LAYERS for layer in extra) or (layers < LAYERS and extra):
        raise ValueError(f"hidden_layers must be in 0..{LAYERS}, and none with fewer layers")
    tensors, nodes = read_model(export)
    weights = _dense_weights(tensors, nodes)
    b = _Builder(tensors, int8_matmuls)
    # Node outputs are named after the layer count so that an exposed one is a graph output.
    x = b.embeddings(hidden_state_name(0) if 0 in extra else "emb")
    mask = b.op("Cast", ["attention_mask"], "mask", to=TensorProto.INT32)
    for layer in range(layers):
        x = b.encoder_layer(x, layer, weights, mask, hidden_state_name(layer + 1))
    ids = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    return b.model(ids, _states(layers, *extra), "minilm")


def build_last_layer_graph(params: Mapping[str, npt.NDArray[np.float32]]) -> bytes:
    """A serialised ONNX model of the last encoder layer alone with ``params`` (by role,
    see :func:`last_layer_parameters`; weights quantised as the export's are): inputs
    float ``hidden`` [batch, seq, 384] (the states after layer 5) and int64
    ``attention_mask``; output ``last_hidden_state``. Built like the compact graph's layer."""
    tensors, weights = _last_layer_tensors(params)
    b = _Builder(tensors, int8_matmuls=True)
    mask = b.op("Cast", ["attention_mask"], "mask", to=TensorProto.INT32)
    b.encoder_layer("hidden", LAYERS - 1, weights, mask, hidden_state_name(LAYERS))
    inputs = [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", HIDDEN]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])]
    return b.model(inputs, _states(LAYERS), "minilm-last-layer")


def _states(*layers: int) -> list[onnx.ValueInfoProto]:
    """Graph outputs: the hidden states after each of ``layers``."""
    return [helper.make_tensor_value_info(hidden_state_name(layer), TensorProto.FLOAT,
                                          ["batch", "seq", HIDDEN]) for layer in layers]
