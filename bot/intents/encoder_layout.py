"""The shape of all-MiniLM-L6-v2 as the encoder graphs lay it out.

Kept apart from the graph builder (:mod:`bot.intents.encoder_graph`), which needs the
``onnx`` package: a process that loads its graphs from files never imports it.
"""

from __future__ import annotations

LAYERS, HIDDEN, HEADS = 6, 384, 12
#: The six dense weights of an encoder layer by the export's module name, with their roles.
DENSE_ROLES = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "o",
    "intermediate.dense": "f1",
    "output.dense": "f2",
}
#: The last layer's float parameters by role, as named in the export.
LAST_FLOAT = {
    "bq": "attention.self.query.bias", "bk": "attention.self.key.bias",
    "bv": "attention.self.value.bias", "bo": "attention.output.dense.bias",
    "g1": "attention.output.LayerNorm.weight", "be1": "attention.output.LayerNorm.bias",
    "b1": "intermediate.dense.bias", "b2": "output.dense.bias",
    "g2": "output.LayerNorm.weight", "be2": "output.LayerNorm.bias",
}
#: Every parameter of the last encoder layer: the six dense weights ([in, out]) by their
#: roles in ``DENSE_ROLES``, then biases and LayerNorm scales/offsets.
LAST_LAYER_ROLES = (*DENSE_ROLES.values(), *LAST_FLOAT)


def hidden_state_name(layer: int) -> str:
    """Graph output holding the hidden states after encoder layer ``layer`` (1-based;
    0 is the embedding layer's output, ``LAYERS`` is ``last_hidden_state``)."""
    return "last_hidden_state" if layer == LAYERS else f"hidden_state_{layer}"
