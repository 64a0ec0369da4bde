"""The fitted model behind :class:`~bot.intents.classifier.IntentClassifier`.

Scores are ``linear SVM(TF-IDF ⊕ a·embedding) + w·(best cosine similarity per intent)``;
probabilities are ``softmax(scores / T)`` with the temperature ``T`` fitted on held-out data.
In the few-shot regime (see :class:`~bot.intents.config.ClassifierConfig`) the intents' names
are extra examples, and two terms are added: the cosine similarity between the message and
the intent's name, and the log-probabilities of a logistic regression on the embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from bot.intents.config import ClassifierConfig
from bot.intents.text_features import TfidfFeatures

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

_KNN_CHUNK = 256  # rows per similarity block: bounds memory on big evaluation batches


@dataclass(frozen=True)
class LabelNames:
    """Each intent's name as a text (None for out-of-scope labels) and its embedding
    (a zero row for those), used as extra examples and a prior in the few-shot regime."""

    texts: list[str | None]
    embeddings: FloatArray  # (n_classes, dimension)


@dataclass
class Scorer:
    """Fitted parameters; every field is an array or plain value so it saves without pickle."""

    tfidf: TfidfFeatures
    coef: FloatArray  # (n_features, n_classes): TF-IDF rows then embedding rows
    intercept: FloatArray  # (n_classes,)
    neighbours: FloatArray | None  # training embeddings sorted by class, or None
    class_starts: IntArray | None  # first row of each class in ``neighbours``
    temperature: float = 1.0
    label_embeddings: FloatArray | None = None  # few-shot: (n_classes, dimension)
    lr_coef: FloatArray | None = None  # few-shot: (dimension, n_classes)
    lr_intercept: FloatArray | None = None  # few-shot: (n_classes,)

    @property
    def num_classes(self) -> int:
        return int(self.intercept.shape[0])

    def scores(
        self, texts: Sequence[str], embeddings: FloatArray | None, config: ClassifierConfig
    ) -> FloatArray:
        """Uncalibrated scores, one row per text."""
        out = np.tile(self.intercept, (len(texts), 1))
        n_sparse = 0
        # Block by block: avoids stacking sparse matrices, which dominates for one message.
        for block in self.tfidf.transform_blocks(texts):
            width = block.shape[1]
            out += block @ self.coef[n_sparse : n_sparse + width]
            n_sparse += width
        if embeddings is not None:
            out += config.embedding_weight * (embeddings @ self.coef[n_sparse:])
            if self.neighbours is not None and self.class_starts is not None:
                out += config.knn_weight * _class_max_similarity(
                    embeddings, self.neighbours, self.class_starts
                )
            if self.label_embeddings is not None:
                out += config.few_shot_label_weight * (embeddings @ self.label_embeddings.T)
            if self.lr_coef is not None and self.lr_intercept is not None:
                logits = embeddings @ self.lr_coef + self.lr_intercept
                out += config.few_shot_lr_weight * _log_softmax(logits)
        return out

    def probabilities(self, scores: FloatArray) -> FloatArray:
        """Calibrated class probabilities."""
        return _softmax(scores / self.temperature)


def _softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def _log_softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    out: FloatArray = (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).astype(np.float32)
    return out


def _class_max_similarity(emb: FloatArray, neighbours: FloatArray, starts: IntArray) -> FloatArray:
    out = np.empty((emb.shape[0], starts.shape[0]), dtype=np.float32)
    for i in range(0, emb.shape[0], _KNN_CHUNK):
        sims = emb[i : i + _KNN_CHUNK] @ neighbours.T
        out[i : i + _KNN_CHUNK] = np.maximum.reduceat(sims, starts, axis=1)
    return out


def fit_scorer(
    texts: Sequence[str],
    y: IntArray,
    num_classes: int,
    embeddings: FloatArray | None,
    config: ClassifierConfig,
    label_names: LabelNames | None = None,
) -> Scorer:
    """Fit TF-IDF and the SVM on ``texts`` (labels ``y`` in ``0..num_classes-1``).

    Every class must occur in ``y`` (:func:`calibration_split` guarantees it for the
    calibration fit), which ``np.maximum.reduceat`` relies on. ``label_names`` (with
    ``embeddings``) switches on the few-shot terms.
    """
    if np.bincount(y, minlength=num_classes).min() == 0:
        raise ValueError("every class needs at least one example")
    label_embeddings = lr_coef = lr_intercept = None
    if label_names is not None and embeddings is not None:
        if config.few_shot_lr_weight > 0:
            lr_coef, lr_intercept = _fit_logistic(embeddings, y, num_classes, config)
        if config.few_shot_label_weight > 0:
            label_embeddings = label_names.embeddings
            named = [c for c, t in enumerate(label_names.texts) if t]
            texts = [*texts, *(str(label_names.texts[c]) for c in named)]
            y = np.concatenate([y, np.asarray(named, dtype=np.int64)])
            embeddings = np.vstack([embeddings, label_names.embeddings[named]])
    tfidf = TfidfFeatures.fit(
        texts,
        word_ngrams=config.word_ngrams,
        char_ngrams=config.char_ngrams,
        char_min_df=config.char_min_df,
    )
    x = tfidf.transform(texts)
    if embeddings is not None:
        x = sparse.hstack(
            [x, sparse.csr_matrix(config.embedding_weight * embeddings)], format="csr"
        )
    svm = LinearSVC(C=config.svm_c, random_state=config.seed, max_iter=5000)
    svm.fit(x, y)
    coef = np.zeros((x.shape[1], num_classes), dtype=np.float32)
    intercept = np.zeros(num_classes, dtype=np.float32)
    present = svm.classes_.astype(np.int64)
    if len(present) == 2:
        # Binary LinearSVC keeps one hyperplane; its negation scores the other class.
        w, b = svm.coef_[0].astype(np.float32), np.float32(svm.intercept_[0])
        coef[:, present[1]], coef[:, present[0]] = w / 2, -w / 2
        intercept[present[1]], intercept[present[0]] = b / 2, -b / 2
    else:
        coef[:, present] = svm.coef_.T.astype(np.float32)
        intercept[present] = svm.intercept_.astype(np.float32)
    neighbours = starts = None
    if embeddings is not None and config.knn_weight > 0:
        order = np.argsort(y, kind="stable")
        neighbours = np.ascontiguousarray(embeddings[order], dtype=np.float32)
        counts = np.bincount(y, minlength=num_classes)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return Scorer(
        tfidf, coef, intercept, neighbours, starts, 1.0, label_embeddings, lr_coef, lr_intercept
    )


def _fit_logistic(
    embeddings: FloatArray, y: IntArray, num_classes: int, config: ClassifierConfig
) -> tuple[FloatArray, FloatArray]:
    """Multinomial logistic regression on the embeddings, as (coef, intercept) arrays."""
    lr = LogisticRegression(C=config.few_shot_lr_c, max_iter=2000)
    lr.fit(embeddings, y)
    coef = np.zeros((embeddings.shape[1], num_classes), dtype=np.float32)
    intercept = np.zeros(num_classes, dtype=np.float32)
    if lr.coef_.shape[0] == 1:  # binary: log-odds of class 1 against class 0
        coef[:, 1], intercept[1] = lr.coef_[0], lr.intercept_[0]
    else:
        coef[:], intercept[:] = lr.coef_.T, lr.intercept_
    return coef, intercept


def fit_temperature(scores: FloatArray, y: IntArray, smoothing: float = 0.02) -> float:
    """Temperature minimising the label-smoothed log-loss of held-out labels.

    Plain log-loss drives the temperature to zero whenever the held-out part happens to be
    classified perfectly (common with a handful of examples per intent), which would make
    every later prediction look certain; a little smoothing keeps the optimum finite.
    """
    rows = np.arange(len(y))

    def loss(log_t: float) -> float:
        z = scores / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-((1 - smoothing) * log_p[rows, y] + smoothing * log_p.mean(axis=1)).mean())

    result = minimize_scalar(loss, bounds=(-6.0, 4.0), method="bounded")
    return float(np.exp(result.x))


def held_out_temperature(texts: Sequence[str], y: IntArray, num_classes: int,
                         split: tuple[IntArray, IntArray], config: ClassifierConfig,
                         emb: FloatArray | None, names: LabelNames | None) -> float:
    """Softmax temperature of a model fitted on the split's first part, scored on its
    second (1.0 when nothing is held out)."""
    fit_idx, held_idx = split
    if len(held_idx) == 0:
        return 1.0
    part = fit_scorer([texts[i] for i in fit_idx], y[fit_idx], num_classes,
                      None if emb is None else emb[fit_idx], config, names)
    held_scores = part.scores([texts[i] for i in held_idx],
                              None if emb is None else emb[held_idx], config)
    return fit_temperature(held_scores, y[held_idx])


def calibration_split(y: IntArray, fraction: float, seed: int) -> tuple[IntArray, IntArray]:
    """Stratified (fit, held-out) indices; classes with one example stay in the fit part."""
    rng = np.random.default_rng(seed)
    fit_idx: list[int] = []
    held: list[int] = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_held = min(len(idx) - 1, max(1, round(fraction * len(idx)))) if len(idx) > 1 else 0
        held.extend(idx[:n_held].tolist())
        fit_idx.extend(idx[n_held:].tolist())
    return np.sort(np.asarray(fit_idx, dtype=np.int64)), np.sort(np.asarray(held, dtype=np.int64))
