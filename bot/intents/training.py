"""Training steps of :class:`~bot.intents.classifier.IntentClassifier` besides the fit:
the few-shot regime, the intents' names as examples, and tuning the encoder's last layer
on the intents' examples (:mod:`bot.intents.finetune`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.definition.builtin import OUT_OF_SCOPE
from bot.intents.config import OOS_LABEL, ClassifierConfig
from bot.intents.embedding import DIMENSION, MiniLMEmbedder
from bot.intents.embedding_memo import EmbeddingMemo
from bot.intents.finetune import FinetuneSettings, finetune
from bot.intents.scoring import FloatArray, LabelNames, held_out_temperature

#: Called with (done, total) while training embeds its examples.
ProgressCallback = Callable[[int, int], None]
IntArray = npt.NDArray[np.int64]


class EmbedderFactory(Protocol):
    """Makes the classifier's encoder (None for the TF-IDF backend)."""

    def __call__(self, config: ClassifierConfig, memo: EmbeddingMemo | None = None,
                 last_layer: dict[str, FloatArray] | None = None, *,
                 last_layer_graph: bytes | None = None, model_dir: Path | None = None,
                 ) -> MiniLMEmbedder | None: ...


def humanise_label(label: str) -> str | None:
    """The text of an intent's name ("card_arrival" -> "card arrival"); None for the
    out-of-scope labels, whose names say nothing about their messages."""
    if label in (OOS_LABEL, OUT_OF_SCOPE):
        return None
    return re.sub(r"[\s_\-]+", " ", label).strip().lower() or None


def is_few_shot(labels: Sequence[str], config: ClassifierConfig) -> bool:
    """True when the median in-scope intent has at most ``config.few_shot_max_examples``."""
    counts = [n for c, n in Counter(labels).items() if humanise_label(c) is not None]
    return bool(counts) and float(np.median(counts)) <= config.few_shot_max_examples


def label_names(classes: Sequence[str], embedder: MiniLMEmbedder) -> LabelNames:
    """The intents' humanised names and their embeddings (zero rows for out-of-scope)."""
    texts = [humanise_label(c) for c in classes]
    named = [i for i, t in enumerate(texts) if t]
    emb = np.zeros((len(classes), DIMENSION), dtype=np.float32)
    if named:
        emb[named] = embedder.embed([str(texts[i]) for i in named])
    return LabelNames(texts, emb)


def train_tuned(
    embedder: MiniLMEmbedder, texts: list[str], y: IntArray, classes: Sequence[str],
    chosen: IntArray, split: tuple[IntArray, IntArray], config: ClassifierConfig, *,
    make_embedder: EmbedderFactory, memo: EmbeddingMemo | None, few_shot: bool,
    progress: ProgressCallback | None, model_dir: Path | None,
) -> tuple[MiniLMEmbedder, FloatArray, dict[str, FloatArray], float | None]:
    """Tune the last layer on the ``chosen`` examples; return the tuned embedder (``embedder``
    is closed), every text's embedding by it, the layer, and the temperature (None when
    nothing is held out). The temperature is fitted with a layer tuned without the
    held-out examples, as every later message is unseen; both layers embed the texts in
    one pass over the five frozen layers."""
    fit_idx, held_idx = split
    # outside the few-shot regime, out-of-scope examples are every intent's negatives
    negative = np.zeros(0, dtype=np.int64) if few_shot else np.flatnonzero(
        [humanise_label(classes[c]) is None for c in y])
    wanted = np.concatenate([chosen, negative])
    states = dict(zip(wanted.tolist(), embedder.layer_states([texts[i] for i in wanted]),
                      strict=True))
    start, settings = embedder.base_last_layer(), finetune_settings(config)

    def tune(idx: IntArray, neg: IntArray) -> dict[str, FloatArray]:
        return finetune([states[i] for i in idx.tolist()], y[idx], start, settings,
                        [states[i] for i in neg.tolist()])

    part_layer = None
    if len(held_idx) > 0:
        part_layer = tune(np.intersect1d(chosen, fit_idx), np.intersect1d(negative, fit_idx))
    tuned = tune(chosen, negative)
    embedder.close()
    final = make_embedder(config, memo, last_layer=tuned, model_dir=model_dir)
    assert final is not None
    if part_layer is None:
        return final, final.embed(texts, progress=progress), tuned, None
    part = make_embedder(config, last_layer=part_layer, model_dir=model_dir)
    assert part is not None
    emb, part_emb = final.embed_with(part, texts, progress=progress)
    temperature = held_out_temperature(texts, y, len(classes), split, config, part_emb,
                                       label_names(classes, part) if few_shot else None)
    part.close()
    return final, emb, tuned, temperature


def tuning_examples(y: IntArray, classes: Sequence[str], few_shot: bool,
                    config: ClassifierConfig) -> IntArray:
    """Indices of the examples the encoder's last layer is tuned on (none: not tuned):
    every example in the few-shot regime; otherwise up to
    ``config.finetune_examples_per_intent`` of each in-scope intent, drawn with the seed."""
    if config.backend == "tfidf" or config.few_shot_finetune_epochs == 0:
        return np.zeros(0, dtype=np.int64)
    if few_shot:
        return np.arange(len(y), dtype=np.int64)
    per = config.finetune_examples_per_intent
    rng = np.random.default_rng(config.seed)
    picked = [rng.permutation(np.flatnonzero(y == c))[:per]
              for c, name in enumerate(classes) if per > 0 and humanise_label(name) is not None]
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(
        0, dtype=np.int64)


def finetune_settings(config: ClassifierConfig) -> FinetuneSettings:
    """How the last layer is tuned, from the classifier's configuration."""
    return FinetuneSettings(epochs=config.few_shot_finetune_epochs,
                            learning_rate=config.few_shot_finetune_lr, seed=config.seed)
