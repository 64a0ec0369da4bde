"""Rebuild the all-MiniLM-L6-v2 ONNX export as a compact graph that runs faster per message.

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
See docs/benchmarks-intents.md, "Round 4", for the measurements.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bot.intents import onnx_proto as pb

LAYERS, HIDDEN, HEADS = 6, 384, 12
_BLOCK = 64  # MatMulNBits block along K (see Round 4 for 16/32/128)
# Hidden channels with the largest |activation| after the LayerNorms on 400 BANKING77
# training texts; the same four lead in every layer (the [CLS] row's outliers).
_OUTLIER_CHANNELS = (99, 63, 223, 338)
_EPSILON = 1e-12
_EMB = "inner.embeddings."
_ROLES = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "o",
    "intermediate.dense": "f1",
    "output.dense": "f2",
}
_BIAS = re.compile(r"inner\.encoder\.layer\.(\d+)\.(.+)\.bias")

Arrays = dict[str, npt.NDArray[np.generic]]


class GraphLayoutError(ValueError):
    """The ONNX file is not laid out like the all-MiniLM-L6-v2 export this expects."""


def _f32(a: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    return np.asarray(a, dtype=np.float32)


def _dense_weights(tensors: Arrays, nodes: list[pb.Node]) -> dict[tuple[int, str], str]:
    """Map (layer, role) to the name of the int8 weight, found as ``MatMul(x, W)`` followed
    by ``Add(.., <layer>.<module>.bias)`` (the export's own names are meaningless)."""
    matmul_weight = {
        n.outputs[0]: n.inputs[1]
        for n in nodes
        if n.op_type == "MatMul" and n.inputs[1] + "_q" in tensors
    }
    found: dict[tuple[int, str], str] = {}
    for n in nodes:
        if n.op_type != "Add" or len(n.inputs) != 2 or n.inputs[0] not in matmul_weight:
            continue
        match = _BIAS.fullmatch(n.inputs[1])
        if match and match.group(2) in _ROLES:
            found[(int(match.group(1)), _ROLES[match.group(2)])] = matmul_weight[n.inputs[0]]
    if len(found) != LAYERS * len(_ROLES):
        raise GraphLayoutError(f"found {len(found)} of {LAYERS * len(_ROLES)} dense layers")
    return found


class _Builder:
    def __init__(self, tensors: Arrays, int8_matmuls: bool) -> None:
        self.tensors = tensors
        self.int8 = int8_matmuls
        self.nodes: list[bytes] = []
        self.inits: list[bytes] = []
        self._split: dict[str, tuple[str, str]] = {}

    def const(self, name: str, array: npt.NDArray[np.generic]) -> str:
        self.inits.append(pb.tensor(name, array))
        return name

    def param(self, name: str) -> str:
        """A float parameter of the export, under its own name."""
        return self.const(name, _f32(self.tensors[name]))

    def op(self, op_type: str, inputs: list[str], output: str, domain: str = "",
           **attributes: pb.Attribute) -> str:
        self.nodes.append(pb.node(op_type, inputs, [output], domain=domain, **attributes))
        return output

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
        word = self.op("Mul", [self.op("Cast", [rows], "word.f", to=pb.FLOAT), scales], "word")
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


# The last layer's float parameters by role, as named in the export (see LAST_LAYER_ROLES).
_LAST_FLOAT = {
    "bq": "attention.self.query.bias", "bk": "attention.self.key.bias",
    "bv": "attention.self.value.bias", "bo": "attention.output.dense.bias",
    "g1": "attention.output.LayerNorm.weight", "be1": "attention.output.LayerNorm.bias",
    "b1": "intermediate.dense.bias", "b2": "output.dense.bias",
    "g2": "output.LayerNorm.weight", "be2": "output.LayerNorm.bias",
}
#: Every parameter of the last encoder layer: the six dense weights ([in, out]) by their
#: roles in ``_ROLES``, then biases and LayerNorm scales/offsets.
LAST_LAYER_ROLES = (*_ROLES.values(), *_LAST_FLOAT)


def last_layer_parameters(export: bytes) -> dict[str, npt.NDArray[np.float32]]:
    """The last encoder layer's parameters in float32 (weights dequantised), by role."""
    tensors, nodes = pb.read_model(export)
    weights = _dense_weights(tensors, nodes)
    out = {role: _f32(tensors[weights[(LAYERS - 1, role)] + "_q"])
           * _f32(tensors[weights[(LAYERS - 1, role)] + "_scale"]).reshape(1, -1)
           for role in _ROLES.values()}
    prefix = f"inner.encoder.layer.{LAYERS - 1}."
    out.update({role: _f32(tensors[prefix + name]) for role, name in _LAST_FLOAT.items()})
    return out


def _replace_last_layer(tensors: Arrays, weights: dict[tuple[int, str], str],
                        params: dict[str, npt.NDArray[np.float32]]) -> Arrays:
    """``tensors`` with the last layer's parameters swapped for ``params``; the weights
    are quantised as the export's are (int8, one symmetric scale per output column)."""
    out = dict(tensors)
    for role in _ROLES.values():
        w = _f32(params[role])
        scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
        name = weights[(LAYERS - 1, role)]
        out[name + "_q"] = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        out[name + "_scale"] = scale.reshape(1, -1).astype(np.float32)
    prefix = f"inner.encoder.layer.{LAYERS - 1}."
    out.update({prefix + name: _f32(params[role]) for role, name in _LAST_FLOAT.items()})
    return out


def hidden_state_name(layer: int) -> str:
    """Graph output holding the hidden states after encoder layer ``layer`` (1-based;
    0 is the embedding layer's output, ``LAYERS`` is ``last_hidden_state``)."""
    return "last_hidden_state" if layer == LAYERS else f"hidden_state_{layer}"


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
    tensors, nodes = pb.read_model(export)
    weights = _dense_weights(tensors, nodes)
    b = _Builder(tensors, int8_matmuls)
    # Node outputs are named after the layer count so that an exposed one is a graph output.
    x = b.embeddings(hidden_state_name(0) if 0 in extra else "emb")
    mask = b.op("Cast", ["attention_mask"], "mask", to=pb.INT32)
    for layer in range(layers):
        x = b.encoder_layer(x, layer, weights, mask, hidden_state_name(layer + 1))
    ids = [pb.value_info(n, pb.INT64, ["batch", "seq"])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    out = [pb.value_info(hidden_state_name(layer), pb.FLOAT, ["batch", "seq", HIDDEN])
           for layer in (layers, *extra)]
    return pb.model(b.nodes, b.inits, ids, out, {"": 17, "com.microsoft": 1}, name="minilm")


def build_last_layer_graph(export: bytes, params: dict[str, npt.NDArray[np.float32]]) -> bytes:
    """A serialised ONNX model of the last encoder layer alone with ``params`` (by role,
    see :func:`last_layer_parameters`; weights quantised as the export's are): inputs
    float ``hidden`` [batch, seq, 384] (the states after layer 5) and int64
    ``attention_mask``; output ``last_hidden_state``. Built like the compact graph's layer."""
    tensors, nodes = pb.read_model(export)
    weights = _dense_weights(tensors, nodes)
    b = _Builder(_replace_last_layer(tensors, weights, params), int8_matmuls=True)
    mask = b.op("Cast", ["attention_mask"], "mask", to=pb.INT32)
    b.encoder_layer("hidden", LAYERS - 1, weights, mask, hidden_state_name(LAYERS))
    inputs = [pb.value_info("hidden", pb.FLOAT, ["batch", "seq", HIDDEN]),
              pb.value_info("attention_mask", pb.INT64, ["batch", "seq"])]
    out = [pb.value_info(hidden_state_name(LAYERS), pb.FLOAT, ["batch", "seq", HIDDEN])]
    return pb.model(b.nodes, b.inits, inputs, out, {"": 17, "com.microsoft": 1},
                    name="minilm-last-layer")
