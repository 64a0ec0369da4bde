"""Hashed word+char n-gram TF-IDF features and a linear injection scorer.

Only numpy is needed at run time. The weights live in a small ``.npz`` file of plain
float arrays (loaded with ``allow_pickle=False``), produced by ``python -m
research.injection.train_ngram`` in a source checkout. Features are hashed with CRC32
rather than kept in a vocabulary, so the shipped file is a fixed size and the training
code and run-time code cannot disagree about feature indices.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_MODEL_RESOURCE",
    "FeatureConfig",
    "LinearInjectionModel",
    "count_features",
    "load_default_model",
]

DEFAULT_MODEL_RESOURCE = "injection_model.npz"
FloatArray = npt.NDArray[np.float32]

# Very long inputs are scored on their head and tail: injected instructions sit at the
# start or end of pasted text in practice, and this bounds per-message latency.
_MAX_CHARS = 3000
_EDGE_CHARS = 1500


@dataclass(frozen=True)
class FeatureConfig:
    """Shape of the hashed feature space; stored in the model file's metadata."""

    dim_bits: int = 18
    char_min: int = 3
    char_max: int = 5
    word_bigrams: bool = True

    @property
    def dim(self) -> int:
        return 1 << self.dim_bits

    def to_json(self) -> dict[str, Any]:
        return {
            "dim_bits": self.dim_bits,
            "char_min": self.char_min,
            "char_max": self.char_max,
            "word_bigrams": self.word_bigrams,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureConfig:
        return cls(
            dim_bits=int(data["dim_bits"]),
            char_min=int(data["char_min"]),
            char_max=int(data["char_max"]),
            word_bigrams=bool(data["word_bigrams"]),
        )


def _clip(text: str) -> str:
    if len(text) <= _MAX_CHARS:
        return text
    return text[:_EDGE_CHARS] + " " + text[-_EDGE_CHARS:]


def count_features(text: str, cfg: FeatureConfig) -> tuple[Counter[int], Counter[int]]:
    """Hashed term counts of already-normalised ``text``: (word block, char block)."""
    text = _clip(text)
    mask = cfg.dim - 1
    crc = zlib.crc32
    words = Counter[int]()
    tokens = "".join(ch if ch.isalnum() else " " for ch in text).split()
    for tok in tokens:
        words[crc(b"w" + tok.encode()) & mask] += 1
    if cfg.word_bigrams:
        for a, b in pairwise(tokens):
            words[crc(b"b" + f"{a} {b}".encode()) & mask] += 1
    chars = Counter[int]()
    padded = f" {' '.join(text.split())} "
    for n in range(cfg.char_min, cfg.char_max + 1):
        prefix = b"c"
        for i in range(len(padded) - n + 1):
            chars[crc(prefix + padded[i : i + n].encode()) & mask] += 1
    return words, chars


def tfidf_block(counts: Counter[int], idf: FloatArray) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Sublinear TF times IDF, L2-normalised and scaled by 1/sqrt(2).

    The two blocks (words, chars) are normalised separately and each scaled so the
    concatenation has unit norm; otherwise the far more numerous char n-grams would
    drown the word features.
    """
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
    vals = (1.0 + np.log(tf)) * idf[idx]
    norm = float(np.sqrt(np.dot(vals, vals)))
    if norm > 0.0:
        vals = vals / (norm * math.sqrt(2.0))
    return idx, vals.astype(np.float32)


class LinearInjectionModel:
    """Logistic-regression scorer over hashed TF-IDF features."""

    def __init__(
        self,
        cfg: FeatureConfig,
        idf: FloatArray,
        coef: FloatArray,
        intercept: float,
        threshold: float = 0.5,
    ) -> None:
        if idf.shape != (cfg.dim,) or coef.shape != (cfg.dim,):
            raise ValueError("model arrays do not match the feature dimension")
        self.cfg = cfg
        self.idf = idf.astype(np.float32)
        self.coef = coef.astype(np.float32)
        self.intercept = float(intercept)
        # Operating point chosen at training time (research/injection/train_ngram.py);
        # the detector rescales probabilities so that this value lands on 0.5.
        self.threshold = float(threshold)

    def vectorize(self, text: str) -> tuple[npt.NDArray[np.int64], FloatArray]:
        """Sparse (indices, values) feature vector of normalised ``text``."""
        words, chars = count_features(text, self.cfg)
        wi, wv = tfidf_block(words, self.idf)
        ci, cv = tfidf_block(chars, self.idf)
        return np.concatenate([wi, ci]), np.concatenate([wv, cv])

    def score(self, text: str) -> float:
        """Probability-like injection score in 0..1 for normalised ``text``."""
        idx, vals = self.vectorize(text)
        z = float(np.dot(self.coef[idx], vals)) + self.intercept
        # Clamp so math.exp cannot overflow on pathological inputs.
        z = max(-30.0, min(30.0, z))
        return 1.0 / (1.0 + math.exp(-z))

    def save(self, path: Path, meta: dict[str, Any] | None = None) -> None:
        """Write the model as a compressed npz of plain arrays plus JSON metadata."""
        info = {"features": self.cfg.to_json(), "threshold": self.threshold, **(meta or {})}
        np.savez_compressed(
            path,
            idf=self.idf.astype(np.float16),
            coef=self.coef.astype(np.float16),
            intercept=np.array([self.intercept], dtype=np.float64),
            meta=np.frombuffer(json.dumps(info, sort_keys=True).encode(), dtype=np.uint8),
        )

    @classmethod
    def load(cls, path: Path | Any) -> LinearInjectionModel:
        """Load a model written by :meth:`save`; refuses pickled content."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            cfg = FeatureConfig.from_json(meta["features"])
            return cls(
                cfg,
                data["idf"].astype(np.float32),
                data["coef"].astype(np.float32),
                float(data["intercept"][0]),
                threshold=float(meta.get("threshold", 0.5)),
            )


def load_default_model() -> LinearInjectionModel:
    """Load the model file shipped inside the package."""
    ref = resources.files("bot.safety.data").joinpath(DEFAULT_MODEL_RESOURCE)
    with ref.open("rb") as fh:
        return LinearInjectionModel.load(fh)
