"""The few-shot regime: intent names as examples, name prior and logistic-regression term."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.intents import OOS_LABEL, ClassifierConfig, IntentClassifier
from bot.intents.classifier import humanise_label, is_few_shot
from research.intents.datasets import LabelledTexts


def test_humanise_label() -> None:
    assert humanise_label("card_arrival") == "card arrival"
    assert humanise_label("Refund_not_showing_up") == "refund not showing up"
    assert humanise_label("top-up  failed") == "top up failed"
    assert humanise_label(OOS_LABEL) is None
    assert humanise_label("out_of_scope") is None
    assert humanise_label("__") is None


def test_regime_follows_the_median_examples_per_intent() -> None:
    cfg = ClassifierConfig(few_shot_max_examples=3)
    assert is_few_shot(["a"] * 3 + ["b"] * 3 + [OOS_LABEL] * 50, cfg)
    assert not is_few_shot(["a"] * 4 + ["b"] * 4, cfg)
    assert not is_few_shot([OOS_LABEL] * 2, cfg)


def _fitted_terms(clf: IntentClassifier) -> tuple[bool, bool]:
    scorer = clf._scorer  # white-box: which terms were fitted
    return scorer.label_embeddings is not None, scorer.lr_coef is not None


def test_few_shot_terms_are_fitted_only_in_the_regime(tiny_train: LabelledTexts) -> None:
    few = IntentClassifier.train(tiny_train.texts, tiny_train.labels)  # 5 examples per intent
    assert _fitted_terms(few) == (True, True)
    many = IntentClassifier.train(
        tiny_train.texts, tiny_train.labels, config=ClassifierConfig(few_shot_max_examples=4)
    )
    assert _fitted_terms(many) == (False, False)
    lexical = IntentClassifier.train(
        tiny_train.texts, tiny_train.labels, config=ClassifierConfig(backend="tfidf")
    )
    assert _fitted_terms(lexical) == (False, False)
    no_names = IntentClassifier.train(
        tiny_train.texts, tiny_train.labels, config=ClassifierConfig(few_shot_label_weight=0)
    )
    assert _fitted_terms(no_names) == (False, True)


def test_intent_name_alone_can_carry_an_intent() -> None:
    # One unrelated example each: only the names say what the intents are about.
    texts = ["xq zv", "pl mk", "rt yu"]
    labels = ["cancel_subscription", "weather_forecast", "order_pizza"]
    clf = IntentClassifier.train(texts, labels)
    assert clf.predict("will it rain tomorrow")[0].label == "weather_forecast"
    assert clf.predict("I'd like a pepperoni pizza delivered")[0].label == "order_pizza"


def test_two_intents_and_the_cache_round_trip(tmp_path: Path) -> None:
    texts = ["hi", "hello there", "good morning", "bye", "see you later", "goodbye"]
    labels = ["greeting"] * 3 + ["farewell"] * 3
    first = IntentClassifier.train(texts, labels, cache_dir=tmp_path)
    assert _fitted_terms(first) == (True, True)
    second = IntentClassifier.train(texts, labels, cache_dir=tmp_path)
    assert second.loaded_from_cache and _fitted_terms(second) == (True, True)
    for text in ["hey", "farewell my friend"]:
        a, b = first.predict(text, k=2), second.predict(text, k=2)
        assert [p.label for p in a] == [p.label for p in b]
        assert a[0].confidence == pytest.approx(b[0].confidence, abs=1e-5)
    assert first.predict("hey")[0].label == "greeting"
    assert first.predict("see you tomorrow")[0].label == "farewell"


def test_config_rejects_negative_few_shot_settings() -> None:
    for bad in ({"few_shot_lr_c": 0.0}, {"few_shot_lr_weight": -1.0},
                {"few_shot_max_examples": -1}):
        with pytest.raises(ValueError):
            ClassifierConfig(**bad)  # type: ignore[arg-type]
