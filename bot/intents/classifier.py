"""Local intent classifier trained from labelled example texts.

Typical use::

    clf = IntentClassifier.train(texts, labels, cache_dir=Path(".data/intents"))
    best = clf.predict("I lost my card")[0]
    if is_out_of_scope(clf.predict(message)):
        ...

Training steps live in :mod:`bot.intents.training`, the model's file in
:mod:`bot.intents.model_store`, the scores in :mod:`bot.intents.scoring`.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.intents.config import DEFAULT_OOS_THRESHOLD, OOS_LABEL, ClassifierConfig
from bot.intents.embedding import MiniLMEmbedder
from bot.intents.embedding_memo import EmbeddingMemo
from bot.intents.model_store import StoredModel, cache_path, load_model, save_model
from bot.intents.scoring import (
    FloatArray,
    Scorer,
    calibration_split,
    fit_scorer,
    held_out_temperature,
)
from bot.intents.training import (
    ProgressCallback,
    humanise_label,
    is_few_shot,
    label_names,
    train_tuned,
    tuning_examples,
)

__all__ = ["IntentClassifier", "Prediction", "ProgressCallback", "humanise_label", "is_few_shot",
           "is_out_of_scope"]


@dataclass(frozen=True)
class Prediction:
    """One candidate intent with its calibrated probability."""

    label: str
    confidence: float


def is_out_of_scope(
    predictions: Sequence[Prediction], threshold: float = DEFAULT_OOS_THRESHOLD
) -> bool:
    """True when the best prediction is the ``oos`` class or is less confident than
    ``threshold``."""
    if not predictions:
        return True
    top = predictions[0]
    return top.label == OOS_LABEL or top.confidence < threshold


class IntentClassifier:
    """Predicts intents for messages, with probabilities calibrated for thresholding.

    Build one with :meth:`train`; instances are immutable and thread-compatible for
    prediction (onnxruntime sessions allow concurrent ``run`` calls).
    """

    def __init__(
        self,
        labels: Sequence[str],
        scorer: Scorer,
        config: ClassifierConfig,
        *,
        embedder: MiniLMEmbedder | None,
        loaded_from_cache: bool = False,
        tuned: dict[str, FloatArray] | None = None,
    ) -> None:
        self._labels = list(labels)
        self._tuned = tuned  # the encoder's fine-tuned last layer, saved with the model
        self._scorer = scorer
        self._config = config
        self._embedder = embedder
        self.loaded_from_cache = loaded_from_cache
        """True when :meth:`train` found this model in its cache and did not train."""

    @property
    def labels(self) -> list[str]:
        """The intents this classifier can predict, sorted."""
        return list(self._labels)

    @property
    def config(self) -> ClassifierConfig:
        """The configuration it was trained with."""
        return self._config

    @property
    def temperature(self) -> float:
        """Softmax temperature fitted on held-out examples."""
        return self._scorer.temperature

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        config: ClassifierConfig | None = None,
        cache_dir: Path | None = None,
        progress: ProgressCallback | None = None,
        memo: EmbeddingMemo | None = None,
    ) -> IntentClassifier:
        """Train on ``texts``/``labels``, or load the identical model from ``cache_dir``
        (which also keeps the encoder's graph files; the user's cache when None).

        ``memo`` shares one-message embeddings with other encoders of the process (the
        injection detector's).

        Examples labelled ``oos`` are learnt as an ordinary class. Raises ``ValueError``
        on empty input, mismatched lengths or fewer than two distinct labels.
        """
        config = config or ClassifierConfig()
        if len(texts) != len(labels):
            raise ValueError("texts and labels must have the same length")
        texts = [str(t)[: config.max_chars] for t in texts]
        labels = [str(lb) for lb in labels]
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError("need examples of at least two labels")
        path = None
        if cache_dir is not None:
            path = cache_path(cache_dir, texts, labels, config)
            if path.exists():
                try:
                    return cls._load(path, config, memo)
                except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                    pass  # corrupt or foreign file: retrain and overwrite it
        embedder = cls._make_embedder(config, memo, model_dir=cache_dir)
        index = {c: i for i, c in enumerate(classes)}
        y = np.asarray([index[lb] for lb in labels], dtype=np.int64)
        few_shot = embedder is not None and is_few_shot(labels, config)
        fit_idx, held_idx = calibration_split(y, config.calibration_fraction, config.seed)
        tuned = temperature = emb = None
        chosen = tuning_examples(y, classes, few_shot, config)
        if embedder is not None and len(chosen) > 0:
            embedder, emb, tuned, temperature = train_tuned(
                embedder, texts, y, classes, chosen, (fit_idx, held_idx), config,
                make_embedder=cls._make_embedder, memo=memo, few_shot=few_shot,
                progress=progress, model_dir=cache_dir)
        elif embedder is not None:
            emb = embedder.embed(texts, progress=progress)
        names = label_names(classes, embedder) if embedder is not None and few_shot else None
        if temperature is None:
            temperature = held_out_temperature(texts, y, len(classes), (fit_idx, held_idx),
                                               config, emb, names)
        scorer = fit_scorer(texts, y, len(classes), emb, config, names)
        scorer.temperature = temperature
        model = cls(classes, scorer, config, embedder=embedder, tuned=tuned)
        if path is not None:
            model._save(path)
        return model

    def close(self) -> None:
        """Free the encoder's memory; the classifier cannot predict afterwards."""
        if self._embedder is not None:
            self._embedder.close()

    def predict(self, text: str, k: int = 3) -> list[Prediction]:
        """Top-``k`` intents for one message, most probable first."""
        return self.predict_many([text], k)[0]

    def predict_many(self, texts: Sequence[str], k: int = 3) -> list[list[Prediction]]:
        """Top-``k`` intents for each message."""
        if k < 1:
            raise ValueError("k must be at least 1")
        if not texts:
            return []
        probs = self.probabilities(texts)
        k = min(k, len(self._labels))
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [
            [Prediction(self._labels[j], float(row[j])) for j in idx]
            for row, idx in zip(probs, top, strict=True)
        ]

    def probabilities(self, texts: Sequence[str]) -> FloatArray:
        """Calibrated probabilities, one row per text, columns in :attr:`labels` order."""
        texts = [str(t)[: self._config.max_chars] for t in texts]
        emb = None if self._embedder is None else self._embedder.embed(texts)
        return self._scorer.probabilities(self._scorer.scores(texts, emb, self._config))

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _make_embedder(config: ClassifierConfig, memo: EmbeddingMemo | None = None,
                       last_layer: dict[str, FloatArray] | None = None, *,
                       last_layer_graph: bytes | None = None, model_dir: Path | None = None,
                       ) -> MiniLMEmbedder | None:
        if config.backend == "tfidf":
            return None
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            cores = os.cpu_count() or 1
        return MiniLMEmbedder(
            max_tokens=config.max_tokens,
            inference_threads=config.inference_threads,
            batch_threads=max(1, cores),
            layer_mix=config.layer_mix,
            memo=memo,
            last_layer=last_layer,
            last_layer_graph=last_layer_graph,
            model_dir=model_dir,
        )

    def _save(self, path: Path) -> None:
        graph = None if self._embedder is None else self._embedder.last_layer_graph
        save_model(path, StoredModel(self._labels, self._scorer, self._tuned, graph),
                   self._config)

    @classmethod
    def _load(
        cls, path: Path, config: ClassifierConfig, memo: EmbeddingMemo | None = None
    ) -> IntentClassifier:
        stored = load_model(path, config)
        embedder = cls._make_embedder(config, memo, last_layer=stored.tuned,
                                      last_layer_graph=stored.tuned_graph, model_dir=path.parent)
        return cls(stored.labels, stored.scorer, config, embedder=embedder,
                   loaded_from_cache=True, tuned=stored.tuned)
