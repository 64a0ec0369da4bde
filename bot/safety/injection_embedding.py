"""Sentence-embedding layer of the injection detector.

The all-MiniLM-L6-v2 encoder of :mod:`bot.intents.embedding` (the same class the
intent classifier uses; no second copy of the model code) turns a message into a
mean-pooled unit vector; a logistic regression over those 384 numbers catches
task-diversion and role-play phrasings that share no n-grams with known attacks.
Its logit is blended with the n-gram model's logit by a second, three-parameter
logistic regression fitted on cross-validated scores (see
``research/injection/train_embedding.py``); the blend replaces the n-gram score in
the detector's noisy-OR.

Weights are a small ``.npz`` of plain arrays (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_EMBEDDING_RESOURCE",
    "Embedder",
    "EmbeddingInjectionModel",
    "clip_for_embedding",
    "load_default_embedding_model",
    "logit",
]

DEFAULT_EMBEDDING_RESOURCE = "injection_embedding.npz"
FloatArray = npt.NDArray[np.float32]

# The encoder truncates at max_tokens; attacks are appended to innocent text as often
# as prepended, so long messages are embedded as head + tail.
_EDGE_CHARS = 300
MAX_TOKENS = 160
# Float32 rounding in the run-time dot product and in the encoder's normalisation
# (|x| = 1 to ~1e-7) stays far below this; it keeps the unit-sphere bound a bound.
_SPHERE_SLACK = 1e-3
# The trained ceiling comes from embeddings the trainer computed in padded batches; the
# single-message session gives logits within 1e-6 of those (2,099 training texts,
# docs/benchmarks-injection.md, the cascade's trained ceiling), far inside this margin.
_CEILING_SLACK = 0.01


class Embedder(Protocol):
    """What the layer needs from an encoder: unit vectors for a batch of texts
    (:class:`bot.intents.embedding.MiniLMEmbedder`, or a fake in tests)."""

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One unit-length row per text."""
        ...


def clip_for_embedding(text: str) -> str:
    """Head and tail of long normalised text, about what fits in ``MAX_TOKENS``."""
    if len(text) <= 2 * _EDGE_CHARS:
        return text
    return text[:_EDGE_CHARS] + " ... " + text[-_EDGE_CHARS:]


def logit(prob: float) -> float:
    """Log-odds of ``prob``, clamped so 0 and 1 stay finite."""
    p = min(max(prob, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class EmbeddingInjectionModel:
    """Logistic regression on MiniLM embeddings plus its blend with the n-gram model.

    ``blend`` is (weight of the n-gram logit, weight of the embedding logit,
    intercept); ``threshold`` is the blended probability that the detector maps to a
    combined score of 0.5. ``train_logit_range`` is the lowest and highest embedding
    logit over the training corpus (the trainer stores it in the file's metadata);
    :meth:`logit_bounds` can use its top as a ceiling. ``graph`` is the encoder graph
    the layer was trained on: "compact" (the intent classifier's, so one encoder pass
    serves both) or "export" (the ONNX export as it is; files without the key).
    """

    def __init__(
        self,
        coef: FloatArray,
        intercept: float,
        blend: tuple[float, float, float],
        threshold: float,
        train_logit_range: tuple[float, float] | None = None,
        graph: Literal["compact", "export"] = "export",
    ) -> None:
        if coef.ndim != 1:
            raise ValueError("coef must be a vector")
        self.coef = coef.astype(np.float32)
        self.intercept = float(intercept)
        self.blend = blend
        self.threshold = float(threshold)
        self.train_logit_range = train_logit_range
        self.graph = graph
        # The embedding is a unit vector, so |coef . x| <= |coef|: whatever the text.
        radius = float(np.linalg.norm(self.coef.astype(np.float64))) + _SPHERE_SLACK
        self._sphere = (self.intercept - radius, self.intercept + radius)

    def logit_bounds(self, *, trained_ceiling: bool) -> tuple[float, float]:
        """Lowest and highest :meth:`embedding_logit` a message can have.

        Exact (the unit-sphere bound) unless ``trained_ceiling``: then the top is the
        highest logit seen on the training corpus, which held for held-out folds in
        cross-validation but is not a proof.
        """
        low, high = self._sphere
        if trained_ceiling and self.train_logit_range is not None:
            high = min(high, self.train_logit_range[1] + _CEILING_SLACK)
        return low, high

    def embedding_logit(self, vector: FloatArray) -> float:
        """Log-odds of injection from one unit-length embedding."""
        return float(np.dot(self.coef, vector)) + self.intercept

    def blended(self, ngram_prob: float, vector: FloatArray) -> float:
        """Blended injection probability from the n-gram probability and an embedding."""
        return self.blend_logits(ngram_prob, self.embedding_logit(vector))

    def blend_logits(self, ngram_prob: float, embedding_logit: float) -> float:
        """Blended probability from the n-gram probability and an embedding logit."""
        a, b, c = self.blend
        return _sigmoid(a * logit(ngram_prob) + b * embedding_logit + c)

    def blend_range(self, ngram_prob: float, *, trained_ceiling: bool) -> tuple[float, float]:
        """Lowest and highest blended probability over :meth:`logit_bounds`.

        The blend is monotonic in the embedding logit, so every message with this
        n-gram probability scores inside the range, whatever its embedding.
        """
        low, high = self.logit_bounds(trained_ceiling=trained_ceiling)
        ends = (self.blend_logits(ngram_prob, low), self.blend_logits(ngram_prob, high))
        return min(ends), max(ends)

    def score(self, embedder: Embedder, normalized_text: str, ngram_prob: float) -> float:
        """Embed ``normalized_text`` and return the blended probability."""
        vector = embedder.embed([clip_for_embedding(normalized_text)])[0]
        return self.blended(ngram_prob, vector)

    def save(self, path: Path, meta: dict[str, Any] | None = None) -> None:
        """Write the weights as a compressed npz of plain arrays plus JSON metadata."""
        info: dict[str, Any] = {"blend": list(self.blend), "threshold": self.threshold,
                                "graph": self.graph}
        if self.train_logit_range is not None:
            info["train_logit_range"] = list(self.train_logit_range)
        info.update(meta or {})
        np.savez_compressed(
            path,
            coef=self.coef.astype(np.float32),
            intercept=np.array([self.intercept], dtype=np.float64),
            meta=np.frombuffer(json.dumps(info, sort_keys=True).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: Path | Any) -> EmbeddingInjectionModel:
        """Load weights written by :meth:`save`; refuses pickled content."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            a, b, c = (float(v) for v in meta["blend"])
            span = meta.get("train_logit_range")
            graph = meta.get("graph", "export")
            if graph not in ("compact", "export"):
                raise ValueError(f"unknown encoder graph {graph!r}")
            return cls(
                data["coef"].astype(np.float32),
                float(data["intercept"][0]),
                (a, b, c),
                float(meta["threshold"]),
                None if span is None else (float(span[0]), float(span[1])),
                graph,
            )


def load_default_embedding_model() -> EmbeddingInjectionModel:
    """Load the embedding-layer weights shipped inside the package."""
    ref = resources.files("bot.safety.data").joinpath(DEFAULT_EMBEDDING_RESOURCE)
    with ref.open("rb") as fh:
        return EmbeddingInjectionModel.load(fh)
