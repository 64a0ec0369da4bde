"""Local intent classifier trained from labelled example texts.

Typical use::

    clf = IntentClassifier.train(texts, labels, cache_dir=Path(".data/intents"))
    best = clf.predict("I lost my card")[0]
    if is_out_of_scope(clf.predict(message)):
        ...
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.intents.builtin import OUT_OF_SCOPE
from bot.intents.config import DEFAULT_OOS_THRESHOLD, OOS_LABEL, ClassifierConfig
from bot.intents.embedding import DIMENSION, MODEL_ID, MiniLMEmbedder
from bot.intents.embedding_memo import EmbeddingMemo
from bot.intents.encoder_layout import LAST_LAYER_ROLES
from bot.intents.finetune import FinetuneSettings, finetune
from bot.intents.scoring import (
    FloatArray,
    LabelNames,
    Scorer,
    calibration_split,
    fit_scorer,
    held_out_temperature,
)
from bot.intents.text_features import TfidfFeatures

#: Called with (done, total) while training embeds its examples.
ProgressCallback = Callable[[int, int], None]

_FORMAT = "intents-v3"  # v3: the tuned last layer's graph is saved with the model
# Source files whose change must invalidate cached models.
_CODE_FILES = ("classifier.py", "scoring.py", "text_features.py", "embedding.py", "config.py",
               "encoder_graph.py", "encoder_layout.py", "encoder_files.py",
               "encoder_sessions.py", "finetune.py")
_TUNED = "tuned_"  # prefix of a fine-tuned last layer's arrays in a cached model
_TUNED_GRAPH = "tuned_graph"  # its graph, built once at training (serialised ONNX bytes)


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


def _label_names(classes: Sequence[str], embedder: MiniLMEmbedder) -> LabelNames:
    texts = [humanise_label(c) for c in classes]
    named = [i for i, t in enumerate(texts) if t]
    emb = np.zeros((len(classes), DIMENSION), dtype=np.float32)
    if named:
        emb[named] = embedder.embed([str(texts[i]) for i in named])
    return LabelNames(texts, emb)


def _train_tuned(
    embedder: MiniLMEmbedder, texts: list[str], y: npt.NDArray[np.int64],
    classes: Sequence[str], chosen: npt.NDArray[np.int64],
    split: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]], config: ClassifierConfig, *,
    memo: EmbeddingMemo | None, few_shot: bool, progress: ProgressCallback | None,
    model_dir: Path | None,
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
    start, settings = embedder.base_last_layer(), _finetune_settings(config)

    def tune(idx: npt.NDArray[np.int64], neg: npt.NDArray[np.int64]) -> dict[str, FloatArray]:
        return finetune([states[i] for i in idx.tolist()], y[idx], start, settings,
                        [states[i] for i in neg.tolist()])

    part_layer = None
    if len(held_idx) > 0:
        part_layer = tune(np.intersect1d(chosen, fit_idx), np.intersect1d(negative, fit_idx))
    tuned = tune(chosen, negative)
    embedder.close()
    final = IntentClassifier._make_embedder(config, memo, last_layer=tuned, model_dir=model_dir)
    assert final is not None
    if part_layer is None:
        return final, final.embed(texts, progress=progress), tuned, None
    part = IntentClassifier._make_embedder(config, last_layer=part_layer, model_dir=model_dir)
    assert part is not None
    emb, part_emb = final.embed_with(part, texts, progress=progress)
    temperature = held_out_temperature(texts, y, len(classes), split, config, part_emb,
                                       _label_names(classes, part) if few_shot else None)
    part.close()
    return final, emb, tuned, temperature


def _tuning_examples(y: npt.NDArray[np.int64], classes: Sequence[str], few_shot: bool,
                     config: ClassifierConfig) -> npt.NDArray[np.int64]:
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


def _finetune_settings(config: ClassifierConfig) -> FinetuneSettings:
    return FinetuneSettings(epochs=config.few_shot_finetune_epochs,
                            learning_rate=config.few_shot_finetune_lr, seed=config.seed)


def _code_version() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(_FORMAT.encode())
    for name in _CODE_FILES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def cache_key(texts: Sequence[str], labels: Sequence[str], config: ClassifierConfig) -> str:
    """Hash of the examples (in order: training is order-sensitive), config and code."""
    digest = hashlib.sha256()
    digest.update(_code_version().encode())
    digest.update(config.to_json().encode())
    digest.update(MODEL_ID.encode())
    digest.update(json.dumps([list(texts), list(labels)], ensure_ascii=False).encode())
    return digest.hexdigest()


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
            path = Path(cache_dir) / f"intents-{cache_key(texts, labels, config)[:40]}.npz"
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
        chosen = _tuning_examples(y, classes, few_shot, config)
        if embedder is not None and len(chosen) > 0:
            embedder, emb, tuned, temperature = _train_tuned(
                embedder, texts, y, classes, chosen, (fit_idx, held_idx), config, memo=memo,
                few_shot=few_shot, progress=progress, model_dir=cache_dir)
        elif embedder is not None:
            emb = embedder.embed(texts, progress=progress)
        names = _label_names(classes, embedder) if embedder is not None and few_shot else None
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
        s = self._scorer
        meta = {
            "format": _FORMAT,
            "labels": self._labels,
            "temperature": s.temperature,
            "config": json.loads(self._config.to_json()),
        }
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "meta": np.asarray(json.dumps(meta), dtype=np.str_),
            "coef": s.coef,
            "intercept": s.intercept,
            **s.tfidf.to_arrays("tfidf_"),
        }
        if s.neighbours is not None and s.class_starts is not None:
            arrays["neighbours"], arrays["class_starts"] = s.neighbours, s.class_starts
        optional = {"label_embeddings": s.label_embeddings, "lr_coef": s.lr_coef,
                    "lr_intercept": s.lr_intercept}
        arrays.update({name: a for name, a in optional.items() if a is not None})
        arrays.update({_TUNED + role: a for role, a in (self._tuned or {}).items()})
        graph = None if self._embedder is None else self._embedder.last_layer_graph
        if self._tuned is not None and graph is not None:
            arrays[_TUNED_GRAPH] = np.frombuffer(graph, dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename so a crash or a concurrent trainer never leaves half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def _load(
        cls, path: Path, config: ClassifierConfig, memo: EmbeddingMemo | None = None
    ) -> IntentClassifier:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(str(arrays["meta"]))
        if meta.get("format") != _FORMAT:
            raise ValueError("unknown cache format")
        tfidf = TfidfFeatures.from_arrays(
            arrays,
            "tfidf_",
            word_ngrams=config.word_ngrams,
            char_ngrams=config.char_ngrams,
            char_min_df=config.char_min_df,
        )
        scorer = Scorer(
            tfidf,
            arrays["coef"],
            arrays["intercept"],
            arrays.get("neighbours"),
            arrays.get("class_starts"),
            float(meta["temperature"]),
            arrays.get("label_embeddings"),
            arrays.get("lr_coef"),
            arrays.get("lr_intercept"),
        )
        tuned = graph = None
        if any(name.startswith(_TUNED) for name in arrays):
            tuned = {role: arrays[_TUNED + role] for role in LAST_LAYER_ROLES}
            graph = arrays[_TUNED_GRAPH].tobytes()
        embedder = cls._make_embedder(config, memo, last_layer=tuned, last_layer_graph=graph,
                                      model_dir=path.parent)
        return cls(meta["labels"], scorer, config, embedder=embedder, loaded_from_cache=True,
                   tuned=tuned)
