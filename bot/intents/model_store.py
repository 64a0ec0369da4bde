"""Trained intent classifiers as files: the cache key, and saving and loading the model.

A model is an ``.npz`` of plain arrays (no pickle): the scorer's arrays, the TF-IDF
vocabularies, JSON metadata, and a tuned last layer with its built graph.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.intents.config import ClassifierConfig
from bot.intents.embedding import MODEL_ID
from bot.intents.encoder_layout import LAST_LAYER_ROLES
from bot.intents.scoring import FloatArray, Scorer
from bot.intents.text_features import TfidfFeatures

_FORMAT = "intents-v3"  # v3: the tuned last layer's graph is saved with the model
# Source files whose change must invalidate cached models.
_CODE_FILES = ("classifier.py", "training.py", "model_store.py", "scoring.py",
               "text_features.py", "embedding.py", "config.py", "encoder_graph.py",
               "encoder_layout.py", "encoder_files.py", "encoder_sessions.py", "finetune.py")
_TUNED = "tuned_"  # prefix of a fine-tuned last layer's arrays in a cached model
_TUNED_GRAPH = "tuned_graph"  # its graph, built once at training (serialised ONNX bytes)


@dataclass(frozen=True)
class StoredModel:
    """What a model file holds."""

    labels: list[str]
    scorer: Scorer
    tuned: dict[str, FloatArray] | None = None  # the encoder's fine-tuned last layer
    tuned_graph: bytes | None = None  # that layer's built graph


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


def cache_path(cache_dir: Path, texts: Sequence[str], labels: Sequence[str],
               config: ClassifierConfig) -> Path:
    """Where the model trained on these examples with ``config`` is kept."""
    return Path(cache_dir) / f"intents-{cache_key(texts, labels, config)[:40]}.npz"


def save_model(path: Path, model: StoredModel, config: ClassifierConfig) -> None:
    """Write ``model`` to ``path``; a crash or a concurrent trainer never leaves half a file."""
    s = model.scorer
    meta = {
        "format": _FORMAT,
        "labels": model.labels,
        "temperature": s.temperature,
        "config": json.loads(config.to_json()),
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
    arrays.update({_TUNED + role: a for role, a in (model.tuned or {}).items()})
    if model.tuned is not None and model.tuned_graph is not None:
        arrays[_TUNED_GRAPH] = np.frombuffer(model.tuned_graph, dtype=np.uint8)
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


def load_model(path: Path, config: ClassifierConfig) -> StoredModel:
    """Read what :func:`save_model` wrote; ``ValueError`` for another format."""
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
    return StoredModel(list(meta["labels"]), scorer, tuned, graph)
