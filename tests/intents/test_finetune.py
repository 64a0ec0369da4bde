"""Fine-tuning the encoder's last layer: its gradient, its training and its use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.intents import ClassifierConfig, IntentClassifier
from bot.intents.embedding import MiniLMEmbedder
from bot.intents.encoder_graph import LAST_LAYER_ROLES
from bot.intents.finetune import FinetuneSettings, backward, finetune, forward, pad, ranking_loss
from research.intents.datasets import LabelledTexts


def _small_layer(rng: np.random.Generator, d: int = 24, inner: int = 48) -> dict[str, np.ndarray]:
    shapes = {"q": (d, d), "k": (d, d), "v": (d, d), "o": (d, d), "f1": (d, inner),
              "f2": (inner, d), "b1": (inner,)}
    p = {role: rng.normal(0, 0.3, shapes.get(role, (d,))) for role in LAST_LAYER_ROLES}
    p["g1"] += 1.0
    p["g2"] += 1.0
    return p


def _loss(p: dict[str, np.ndarray], x: np.ndarray, mask: np.ndarray) -> float:
    emb, _ = forward(p, x, mask)
    return ranking_loss(emb, 20.0)[0]


def test_the_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    p = _small_layer(rng)
    # three pairs of unequal lengths: padding must not leak into the result
    x, mask = pad([rng.normal(size=(n, 24)) for n in (3, 5, 2, 4, 1, 5)])
    emb, cache = forward(p, x, mask)
    _, d_emb = ranking_loss(emb, 20.0)
    grads = backward(p, cache, d_emb)
    assert set(grads) == set(LAST_LAYER_ROLES)
    eps = 1e-6
    for role in LAST_LAYER_ROLES:
        flat = p[role].reshape(-1)
        for j in rng.choice(flat.size, size=min(5, flat.size), replace=False):
            keep = flat[j]
            flat[j] = keep + eps
            up = _loss(p, x, mask)
            flat[j] = keep - eps
            down = _loss(p, x, mask)
            flat[j] = keep
            numeric = (up - down) / (2 * eps)
            assert grads[role].reshape(-1)[j] == pytest.approx(numeric, rel=1e-4, abs=1e-7), role


def test_padding_does_not_change_an_embedding() -> None:
    rng = np.random.default_rng(1)
    p = _small_layer(rng)
    short, long = rng.normal(size=(2, 24)), rng.normal(size=(6, 24))
    alone, _ = forward(p, *pad([short]))
    padded, _ = forward(p, *pad([short, long]))
    np.testing.assert_allclose(alone[0], padded[0], rtol=1e-10, atol=1e-12)


def _four_intents(seed: int) -> tuple[np.random.Generator, dict[str, np.ndarray], np.ndarray,
                                       np.ndarray, list[np.ndarray]]:
    """A small random layer and six noisy examples (four tokens each) of four intents."""
    rng = np.random.default_rng(seed)
    start = {k: v.astype(np.float32) for k, v in _small_layer(rng).items()}
    centres = rng.normal(size=(4, 24))
    y = np.repeat(np.arange(4), 6)
    states = [(centres[c] + rng.normal(0, 1.5, size=(4, 24))).astype(np.float32) for c in y]
    return rng, start, centres, y, states


def test_training_pulls_examples_of_an_intent_together_and_is_reproducible() -> None:
    _, start, _, y, states = _four_intents(2)
    settings = FinetuneSettings(epochs=5, learning_rate=1e-2, batch_size=4)

    def spread(p: dict[str, np.ndarray]) -> float:
        emb, _ = forward(p, *pad(states))
        same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
        sims = emb @ emb.T
        return float(sims[same].mean() - sims[~same & ~np.eye(len(y), dtype=bool)].mean())

    tuned = finetune(states, y, start, settings)
    assert spread(tuned) > spread(start) + 0.1
    again = finetune(states, y, start, settings)
    assert all(np.array_equal(tuned[r], again[r]) for r in LAST_LAYER_ROLES)
    assert not np.array_equal(start["f1"], tuned["f1"])  # the start is not modified in place


def test_the_shipped_layer_through_the_tuning_path_gives_the_shipped_embeddings() -> None:
    texts = ["my card has not arrived yet", "how do I top up", "hi"]
    plain = MiniLMEmbedder()
    base = MiniLMEmbedder.base_last_layer()
    same = MiniLMEmbedder(last_layer=base)
    # requantising the dequantised weights gives back the shipped int8 values
    np.testing.assert_allclose(same.embed(texts), plain.embed(texts), atol=1e-5)
    # and the numpy layer over the exposed states is the graph's last layer
    emb, _ = forward(base, *pad(plain.layer_states(texts[:1])))
    assert float(emb[0] @ plain.embed(texts[:1])[0]) > 0.999
    changed = dict(base, f2=base["f2"] * 0.5)
    other = MiniLMEmbedder(last_layer=changed)
    assert other.graph_id != plain.graph_id != same.graph_id
    assert float(other.embed(texts[:1])[0] @ plain.embed(texts[:1])[0]) < 0.9999


def test_a_few_shot_model_is_tuned_and_its_cached_copy_predicts_the_same(
    tiny_train: LabelledTexts, tmp_path: Path
) -> None:
    tuned = IntentClassifier.train(tiny_train.texts, tiny_train.labels, cache_dir=tmp_path)
    assert tuned._tuned is not None  # white-box: the encoder was fine-tuned
    frozen = IntentClassifier.train(tiny_train.texts, tiny_train.labels,
                                    config=ClassifierConfig(few_shot_finetune_epochs=0))
    assert frozen._tuned is None
    probe = ["where is my parcel", "cancel it please", "hello there"]
    assert not np.allclose(tuned.probabilities(probe), frozen.probabilities(probe))
    loaded = IntentClassifier.train(tiny_train.texts, tiny_train.labels, cache_dir=tmp_path)
    assert loaded.loaded_from_cache
    np.testing.assert_allclose(loaded.probabilities(probe), tuned.probabilities(probe),
                               rtol=1e-6, atol=1e-7)
    assert loaded.temperature == tuned.temperature


def test_outside_the_few_shot_regime_tuning_can_be_switched_off(
    tiny_train: LabelledTexts,
) -> None:
    many = IntentClassifier.train(
        tiny_train.texts, tiny_train.labels,
        config=ClassifierConfig(few_shot_max_examples=4, finetune_examples_per_intent=0))
    assert many._tuned is None


def test_the_five_layer_graph_gives_the_full_graphs_layer5_states_bit_for_bit() -> None:
    # A tuned classifier takes these states from the memo when the injection detector's
    # pass left them there, and computes them itself otherwise: both must be the same.
    import onnxruntime as ort

    from bot.intents.embedding import model_file
    from bot.intents.encoder_graph import build_encoder_graph, hidden_state_name

    export = model_file().read_bytes()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    full = ort.InferenceSession(build_encoder_graph(export, hidden_layers=(5,)), opts,
                                providers=["CPUExecutionProvider"])
    five = ort.InferenceSession(build_encoder_graph(export, layers=5), opts,
                                providers=["CPUExecutionProvider"])
    ids = np.asarray([[101, 2026, 4003, 2038, 2025, 3369, 102]], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": 0 * ids}
    (a,) = full.run([hidden_state_name(5)], feeds)
    (b,) = five.run([hidden_state_name(5)], feeds)
    np.testing.assert_array_equal(a, b)
    assert [o.name for o in five.get_outputs()] == [hidden_state_name(5)]
    with pytest.raises(ValueError, match="layers"):
        build_encoder_graph(export, layers=0)
    with pytest.raises(ValueError, match="hidden_layers"):
        build_encoder_graph(export, layers=5, hidden_layers=(3,))


def test_outside_the_regime_a_few_examples_per_in_scope_intent_can_be_tuned_on(
    tiny_train: LabelledTexts,
) -> None:
    from bot.intents.training import tuning_examples

    y = np.asarray([0, 0, 0, 1, 1, 1, 2, 2, 2], dtype=np.int64)
    classes = ["card_arrival", "oos", "top_up"]
    config = ClassifierConfig(finetune_examples_per_intent=2)
    chosen = tuning_examples(y, classes, False, config)
    assert sorted(np.bincount(y[chosen], minlength=3).tolist()) == [0, 2, 2]
    assert 1 not in y[chosen]  # out-of-scope examples say nothing about one intent
    assert np.array_equal(chosen, tuning_examples(y, classes, False, config))  # seeded
    assert len(tuning_examples(y, classes, False,
                               ClassifierConfig(finetune_examples_per_intent=0))) == 0
    assert len(tuning_examples(y, classes, True, ClassifierConfig())) == len(y)
    many = IntentClassifier.train(
        tiny_train.texts, tiny_train.labels,
        config=ClassifierConfig(few_shot_max_examples=4, finetune_examples_per_intent=3))
    assert many._tuned is not None and many._scorer.label_embeddings is None


def test_out_of_scope_negatives_are_pushed_away_from_every_intent() -> None:
    rng, start, centres, y, states = _four_intents(3)
    # out-of-scope texts sit between the intents
    negatives = [(centres.mean(axis=0) + rng.normal(0, 1.5, size=(4, 24))).astype(np.float32)
                 for _ in range(12)]
    settings = FinetuneSettings(epochs=5, learning_rate=1e-2, batch_size=4)

    def closeness(p: dict[str, np.ndarray]) -> float:
        members, _ = forward(p, *pad(states))
        others, _ = forward(p, *pad(negatives))
        return float((others @ members.T).max(axis=1).mean())

    without = finetune(states, y, start, settings)
    with_negatives = finetune(states, y, start, settings, negatives)
    assert closeness(with_negatives) < closeness(without) - 0.05


def test_the_ranking_loss_gradient_with_extra_negatives_matches_finite_differences() -> None:
    rng = np.random.default_rng(4)
    emb = rng.normal(size=(7, 5))  # 2 anchors, 2 positives, 3 extra negatives
    _, grad = ranking_loss(emb, 3.0, anchors=2)
    eps = 1e-6
    for i, j in ((0, 1), (3, 2), (6, 4)):
        up, down = emb.copy(), emb.copy()
        up[i, j] += eps
        down[i, j] -= eps
        numeric = (ranking_loss(up, 3.0, 2)[0] - ranking_loss(down, 3.0, 2)[0]) / (2 * eps)
        assert grad[i, j] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_two_tuned_layers_embed_a_batch_in_one_pass_as_each_would_alone() -> None:
    base = MiniLMEmbedder.base_last_layer()
    a = MiniLMEmbedder(last_layer=dict(base, f2=base["f2"] * 0.9))
    b = MiniLMEmbedder(last_layer=dict(base, f2=base["f2"] * 0.7))
    texts = ["my card has not arrived", "top up failed", "hello", "what is the rate today"]
    got_a, got_b = a.embed_with(b, texts)
    np.testing.assert_array_equal(got_a, a.embed(texts))
    np.testing.assert_array_equal(got_b, b.embed(texts))
    with pytest.raises(ValueError, match="tuned"):
        MiniLMEmbedder().embed_with(a, texts)
