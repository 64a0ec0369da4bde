"""Loaders for labelled intent examples: CSV files and CLINC150-style JSON."""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.intents.config import OOS_LABEL

__all__ = ["OOS_LABEL", "DatasetFormatError", "LabelledTexts", "is_clinc_json", "load_clinc",
           "load_csv", "load_examples", "sample_shots"]

_LABEL_COLUMNS = ("category", "label", "intent")
_CLINC_SPLITS = {
    "train": ("train", "oos_train"),
    "val": ("val", "oos_val"),
    "test": ("test", "oos_test"),
}


@dataclass(frozen=True)
class LabelledTexts:
    """Parallel lists of texts and their labels."""

    texts: list[str]
    labels: list[str]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError("texts and labels must have the same length")

    def __len__(self) -> int:
        return len(self.texts)


class DatasetFormatError(ValueError):
    """The file does not have the expected columns or keys."""


def load_csv(path: Path) -> LabelledTexts:
    """Read a CSV with a header holding ``text`` and ``category`` (or ``label``/``intent``)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "text" not in fields:
            raise DatasetFormatError(f"{path}: no 'text' column in header {fields}")
        label_col = next((c for c in _LABEL_COLUMNS if c in fields), None)
        if label_col is None:
            raise DatasetFormatError(f"{path}: no 'category' or 'label' column in {fields}")
        original = {f.strip().lower(): f for f in reader.fieldnames or []}
        texts: list[str] = []
        labels: list[str] = []
        for row in reader:
            text = (row.get(original["text"]) or "").strip()
            label = (row.get(original[label_col]) or "").strip()
            if text and label:
                texts.append(text)
                labels.append(label)
    return LabelledTexts(texts, labels)


def load_clinc(path: Path, split: str, *, include_oos: bool = True) -> LabelledTexts:
    """Read one split (``train``, ``val`` or ``test``) of a CLINC150 ``data_full.json``.

    The matching ``oos_<split>`` list is appended (label ``oos``) when ``include_oos`` is set
    and the file has it.
    """
    if split not in _CLINC_SPLITS:
        raise ValueError(f"split must be one of {sorted(_CLINC_SPLITS)}, not {split!r}")
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or split not in data:
        raise DatasetFormatError(f"{path}: expected a JSON object with a {split!r} key")
    keys = _CLINC_SPLITS[split] if include_oos else (split,)
    texts: list[str] = []
    labels: list[str] = []
    for key in keys:
        for item in data.get(key, []):
            if not (isinstance(item, list) and len(item) == 2):
                raise DatasetFormatError(f"{path}: {key} items must be [text, label] pairs")
            texts.append(str(item[0]))
            labels.append(str(item[1]))
    return LabelledTexts(texts, labels)


def is_clinc_json(path: Path) -> bool:
    """True when ``path`` looks like a CLINC150-style JSON file (by extension)."""
    return path.suffix.lower() == ".json"


def load_examples(path: Path, split: str) -> LabelledTexts:
    """Load ``path`` by its format; ``split`` picks the CLINC split and is ignored for CSV."""
    if is_clinc_json(path):
        return load_clinc(path, split)
    return load_csv(path)


def sample_shots(texts: Sequence[str], labels: Sequence[str], k: int, seed: int) -> LabelledTexts:
    """Pick at most ``k`` examples per label, reproducibly for a given ``seed``.

    Order of the result follows the input order so that it does not depend on hashing.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if len(texts) != len(labels):
        raise ValueError("texts and labels must have the same length")
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    rng = random.Random(seed)
    chosen: list[int] = []
    for label in sorted(by_label):
        idx = by_label[label]
        chosen.extend(idx if len(idx) <= k else rng.sample(idx, k))
    chosen.sort()
    return LabelledTexts([texts[i] for i in chosen], [labels[i] for i in chosen])
