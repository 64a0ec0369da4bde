"""Sentence-embedding layer of the injection detector.

The all-MiniLM-L6-v2 encoder of :mod:`bot.intents.embedding` (the same class the
intent classifier uses; no second copy of the model code) turns a message into a
mean-pooled unit vector; a logistic regression over those 384 numbers catches
task-diversion and role-play phrasings that share no n-grams with known attacks.
Its logit is blended with the n-gram model's logit by a second, three-parameter
logistic regression fitted on cross-validated scores (see
:mod:`bot.safety.train_injection_embedding`); the blend replaces the n-gram score in
the detector's noisy-OR.

Weights are a small ``.npz`` of plain arrays (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from bot.intents.embedding import MiniLMEmbedder

__all__ = [
    "DEFAULT_EMBEDDING_RESOURCE",
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
    combined score of 0.5.
    """

    def __init__(
        self,
        coef: FloatArray,
        intercept: float,
        blend: tuple[float, float, float],
        threshold: float,
    ) -> None:
        if coef.ndim != 1:
            raise ValueError("coef must be a vector")
        self.coef = coef.astype(np.float32)
        self.intercept = float(intercept)
        self.blend = blend
        self.threshold = float(threshold)

    def embedding_logit(self, vector: FloatArray) -> float:
        """Log-odds of injection from one unit-length embedding."""
        return float(np.dot(self.coef, vector)) + self.intercept

    def blended(self, ngram_prob: float, vector: FloatArray) -> float:
        """Blended injection probability from the n-gram probability and an embedding."""
        a, b, c = self.blend
        return _sigmoid(a * logit(ngram_prob) + b * self.embedding_logit(vector) + c)

    def score(self, embedder: MiniLMEmbedder, normalized_text: str, ngram_prob: float) -> float:
        """Embed ``normalized_text`` and return the blended probability."""
        vector = embedder.embed([clip_for_embedding(normalized_text)])[0]
        return self.blended(ngram_prob, vector)

    def save(self, path: Path, meta: dict[str, Any] | None = None) -> None:
        """Write the weights as a compressed npz of plain arrays plus JSON metadata."""
        info = {"blend": list(self.blend), "threshold": self.threshold, **(meta or {})}
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
            return cls(
                data["coef"].astype(np.float32),
                float(data["intercept"][0]),
                (a, b, c),
                float(meta["threshold"]),
            )


def load_default_embedding_model() -> EmbeddingInjectionModel:
    """Load the embedding-layer weights shipped inside the package."""
    ref = resources.files("bot.safety.data").joinpath(DEFAULT_EMBEDDING_RESOURCE)
    with ref.open("rb") as fh:
        return EmbeddingInjectionModel.load(fh)
