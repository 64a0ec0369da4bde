from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bot.intents import (
    OOS_LABEL,
    ClassifierConfig,
    IntentClassifier,
    Prediction,
    is_out_of_scope,
)
from bot.intents.scoring import calibration_split, fit_temperature
from research.intents.datasets import LabelledTexts, load_clinc


def _accuracy(clf: IntentClassifier, data: LabelledTexts) -> float:
    preds = clf.predict_many(data.texts, k=1)
    return float(np.mean([p[0].label == y for p, y in zip(preds, data.labels, strict=True)]))


@pytest.mark.parametrize("backend", ["minilm+tfidf", "tfidf"])
def test_fits_tiny_set_and_predicts_sensibly(
    backend: str, tiny_train: LabelledTexts, tiny_test: LabelledTexts
) -> None:
    clf = IntentClassifier.train(
        tiny_train.texts,
        tiny_train.labels,
        config=ClassifierConfig(backend=backend),  # type: ignore[arg-type]
    )
    assert clf.labels == ["balance", "greeting", "lost_card", "transfer"]
    # The embedding backend should generalise past word overlap on these paraphrases.
    assert _accuracy(clf, tiny_test) >= (1.0 if backend == "minilm+tfidf" else 0.6)


def test_predictions_are_sorted_probabilities(tiny_train: LabelledTexts) -> None:
    clf = IntentClassifier.train(tiny_train.texts, tiny_train.labels)
    preds = clf.predict("where did my card go", k=10)
    assert len(preds) == len(clf.labels)  # k is capped by the number of labels
    confs = [p.confidence for p in preds]
    assert all(0.0 <= c <= 1.0 for c in confs)
    assert confs == sorted(confs, reverse=True)
    assert math.isclose(sum(confs), 1.0, rel_tol=1e-4)
    assert preds[0].label == "lost_card"
    assert len(clf.predict("hello", k=2)) == 2


def test_predict_many_matches_predict(tiny_train: LabelledTexts, tiny_test: LabelledTexts) -> None:
    clf = IntentClassifier.train(tiny_train.texts, tiny_train.labels)
    many = clf.predict_many(tiny_test.texts, k=2)
    for text, batch in zip(tiny_test.texts, many, strict=True):
        single = clf.predict(text, k=2)
        assert [p.label for p in single] == [p.label for p in batch]
        for a, b in zip(single, batch, strict=True):
            assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
    assert clf.predict_many([]) == []


def test_second_train_with_same_examples_hits_cache(
    tmp_path: Path, tiny_train: LabelledTexts
) -> None:
    first = IntentClassifier.train(tiny_train.texts, tiny_train.labels, cache_dir=tmp_path)
    assert not first.loaded_from_cache
    (cached,) = tmp_path.glob("intents-*.npz")
    mtime = cached.stat().st_mtime_ns

    second = IntentClassifier.train(tiny_train.texts, tiny_train.labels, cache_dir=tmp_path)
    assert second.loaded_from_cache
    assert cached.stat().st_mtime_ns == mtime  # not rewritten, so not retrained
    assert second.temperature == first.temperature
    for text in ["my card is gone", "hi", "send money to mum"]:
        a, b = first.predict(text), second.predict(text)
        assert [p.label for p in a] == [p.label for p in b]
        assert a[0].confidence == pytest.approx(b[0].confidence, abs=1e-5)

    # Different examples or a different config are a different model.
    third = IntentClassifier.train(
        [*tiny_train.texts, "block my card now"],
        [*tiny_train.labels, "lost_card"],
        cache_dir=tmp_path,
    )
    assert not third.loaded_from_cache
    fourth = IntentClassifier.train(
        tiny_train.texts, tiny_train.labels, cache_dir=tmp_path, config=ClassifierConfig(svm_c=0.5)
    )
    assert not fourth.loaded_from_cache
    assert len(list(tmp_path.glob("intents-*.npz"))) == 3


@pytest.mark.parametrize("garbage", [b"not a model", b"PK\x03\x04truncated zip"])
def test_corrupt_cache_file_is_retrained(
    garbage: bytes, tmp_path: Path, tiny_train: LabelledTexts
) -> None:
    IntentClassifier.train(tiny_train.texts, tiny_train.labels, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("intents-*.npz")
    cached.write_bytes(garbage)
    again = IntentClassifier.train(tiny_train.texts, tiny_train.labels, cache_dir=tmp_path)
    assert not again.loaded_from_cache
    assert again.predict("hello")[0].label == "greeting"
    assert cached.stat().st_size > 100


def test_oos_examples_are_learnt_as_a_class(fixtures: Path) -> None:
    train = load_clinc(fixtures / "tiny_clinc.json", "train")
    clf = IntentClassifier.train(train.texts, train.labels)
    assert OOS_LABEL in clf.labels
    assert clf.predict("set an alarm for 6 am")[0].label == "alarm"
    assert is_out_of_scope(clf.predict("who wrote the novel war and peace"))


def test_is_out_of_scope_rule() -> None:
    assert is_out_of_scope([])
    assert is_out_of_scope([Prediction(OOS_LABEL, 0.99)])
    assert is_out_of_scope([Prediction("alarm", 0.2)], threshold=0.5)
    assert not is_out_of_scope([Prediction("alarm", 0.7)], threshold=0.5)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        IntentClassifier.train(["a", "b"], ["x"])
    with pytest.raises(ValueError):
        IntentClassifier.train(["a", "b"], ["x", "x"])
    with pytest.raises(ValueError):
        ClassifierConfig(calibration_fraction=0.9)


def test_fit_temperature_recovers_the_generating_temperature() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(scale=4.0, size=(4000, 5)).astype(np.float32)
    true_t = 2.5
    p = np.exp(scores / true_t)
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(5, p=row) for row in p], dtype=np.int64)
    assert fit_temperature(scores, y, smoothing=0.0) == pytest.approx(true_t, rel=0.1)


def test_calibration_split_is_stratified_and_keeps_singletons() -> None:
    y = np.array([0] * 10 + [1] * 5 + [2], dtype=np.int64)
    fit, held = calibration_split(y, 0.2, seed=0)
    assert sorted([*fit, *held]) == list(range(len(y)))
    assert np.bincount(y[held], minlength=3).tolist() == [2, 1, 0]
    assert set(y[fit]) == {0, 1, 2}


def test_odd_messages_are_classified(tiny_train: LabelledTexts) -> None:
    clf = IntentClassifier.train(
        tiny_train.texts, tiny_train.labels, config=ClassifierConfig(max_chars=200)
    )
    pasted = "I lost my card. " + "lorem ipsum dolor sit amet " * 2000
    for text in ["", "   ", "🙂🙂", pasted]:
        preds = clf.predict(text)
        assert len(preds) == 3 and 0.0 <= preds[0].confidence <= 1.0
    # Only the first max_chars characters count, so the long paste reads as its opening.
    assert clf.predict(pasted)[0].label == "lost_card"
