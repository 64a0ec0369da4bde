"""Hidden states of an inner layer, read from the same forward pass (``layer_mix``)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from bot.intents.config import ClassifierConfig
from bot.intents.embedding import MIX_LAYER, MODEL_ID, MiniLMEmbedder, model_file
from bot.intents.encoder_graph import build_encoder_graph, hidden_state_name

TEXTS = ["How do I locate my card?", "what's the exchange rate", "hi"]


def _run(model: bytes, outputs: list[str], ids: list[int]) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    x = np.asarray([ids], dtype=np.int64)
    feeds = {"input_ids": x, "attention_mask": np.ones_like(x), "token_type_ids": 0 * x}
    return [np.asarray(h) for h in session.run(outputs, feeds)]


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return out


def test_extra_outputs_leave_the_last_layer_alone() -> None:
    export = model_file().read_bytes()
    ids = [101, 2129, 2079, 1045, 12453, 2026, 4003, 1029, 102]
    (plain,) = _run(build_encoder_graph(export), ["last_hidden_state"], ids)
    names = ["last_hidden_state", hidden_state_name(MIX_LAYER)]
    last, inner = _run(build_encoder_graph(export, hidden_layers=(MIX_LAYER,)), names, ids)
    np.testing.assert_allclose(last, plain, atol=1e-5)
    assert inner.shape == last.shape
    # Different layers: the inner states are not copies of the last ones.
    assert float(np.abs(inner - last).max()) > 0.1
    # Exposing the embedding layer's output changes how onnxruntime fuses the nodes around
    # it, which moves the int8 rounding a little (both stay within cosine 0.9999 of the
    # float32 graph); the classifier only ever exposes MIX_LAYER.
    last0, emb = _run(build_encoder_graph(export, hidden_layers=(0,)),
                      ["last_hidden_state", hidden_state_name(0)], ids)
    assert emb.shape == last.shape
    assert float(_unit(last0[0].mean(axis=0)) @ _unit(plain[0].mean(axis=0))) > 0.9999


def test_hidden_layers_out_of_range_are_rejected() -> None:
    with pytest.raises(ValueError, match="hidden_layers"):
        build_encoder_graph(model_file().read_bytes(), hidden_layers=(7,))


def test_layer_mix_blends_the_unit_mean_pools() -> None:
    plain = MiniLMEmbedder(batch_threads=1)
    mixed = MiniLMEmbedder(batch_threads=1, layer_mix=0.5)
    np.testing.assert_array_equal(MiniLMEmbedder(batch_threads=1, layer_mix=0).embed(TEXTS),
                                  plain.embed(TEXTS))
    got = mixed.embed(TEXTS)
    ids = [enc.ids for enc in mixed._tokenizer.encode_batch(TEXTS)]
    graph = build_encoder_graph(model_file().read_bytes(), hidden_layers=(MIX_LAYER,))
    for row, x in zip(got, ids, strict=True):
        last, inner = _run(graph, ["last_hidden_state", hidden_state_name(MIX_LAYER)], x)
        want = _unit(_unit(last[0].mean(axis=0)) + 0.5 * _unit(inner[0].mean(axis=0)))
        np.testing.assert_allclose(row, want, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # Close to the plain sentence embedding, but not it.
    cos = np.sum(got * plain.embed(TEXTS), axis=1)
    assert float(cos.min()) > 0.8 and float(cos.max()) < 0.9999


def test_layer_mix_needs_the_compact_graph() -> None:
    with pytest.raises(ValueError, match="layer_mix"):
        MiniLMEmbedder(compact=False, layer_mix=0.5)
    with pytest.raises(ValueError, match="layer_mix"):
        MiniLMEmbedder(layer_mix=-1)


def test_model_id_names_the_default_mix() -> None:
    # Cached classifiers are keyed on MODEL_ID: it must change with the default embedding.
    mix = ClassifierConfig().layer_mix
    assert (f"mix{MIX_LAYER}x{mix}:" in MODEL_ID) if mix else ("mix" not in MODEL_ID)


def test_classifier_passes_layer_mix_to_its_embedder() -> None:
    from bot.intents.classifier import IntentClassifier

    embedder = IntentClassifier._make_embedder(ClassifierConfig(layer_mix=0.5))
    assert embedder is not None and embedder._layer_mix == 0.5
    embedder.close()
