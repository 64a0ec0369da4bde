"""Training corpus for the injection classifier: train splits plus shipped extras.

Used by :mod:`research.injection.train_ngram` and :mod:`research.injection.train_embedding`.
Test splits are never read here: BANKING77 ``train.csv``, CLINC150
``train``/``val``/``oos_train``/``oos_val`` and deepset ``train.csv`` only.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GROUPS", "Corpus", "augment", "load_corpus"]

#: Hand-written injections and benign near-misses (provenance: data/NOTICE.md).
EXTRA_CSV = Path(__file__).parent / "data" / "injection_extra.csv"
# Sample groups; weights per group are a training hyper-parameter (see --weights).
GROUPS = ("inj", "gen_benign", "cust_benign")


@dataclass
class Corpus:
    """Texts with labels and the group each belongs to."""

    texts: list[str]
    labels: list[int]
    groups: list[str]
    # Where a text came from ("deepset", "customer", "extra", "augmented"); CV reports
    # recall on deepset rows separately because the other positives are easier.
    origins: list[str]

    def add(self, text: str, label: int, group: str, origin: str) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.groups.append(group)
        self.origins.append(origin)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_corpus(datasets: Path, extra_csv: Path | None = None) -> Corpus:
    """Assemble the training corpus from the train splits under ``datasets``."""
    corpus = Corpus([], [], [], [])
    deepset = datasets / "prompt_injection" / "deepset_prompt_injections" / "train.csv"
    for row in _read_csv(deepset):
        label = int(row["label"])
        corpus.add(row["text"], label, "inj" if label else "gen_benign", "deepset")
    for row in _read_csv(datasets / "banking77" / "train.csv"):
        corpus.add(row["text"], 0, "cust_benign", "customer")
    with (datasets / "clinc150" / "data_full.json").open(encoding="utf-8") as fh:
        clinc = json.load(fh)
    for split in ("train", "val", "oos_train", "oos_val"):
        for text, _intent in clinc[split]:
            corpus.add(text, 0, "cust_benign", "customer")
    for row in _read_csv(EXTRA_CSV if extra_csv is None else extra_csv):
        label = int(row["label"])
        corpus.add(row["text"], label, "inj" if label else "gen_benign", "extra")
    return corpus


def augment(corpus: Corpus, copies: int, seed: int = 0) -> Corpus:
    """Add injections embedded after an unrelated benign question, and benign pairs.

    Attackers append instructions to an innocent-looking question; the deepset train
    split shows the pattern but only for a few attacks. Benign+benign pairs are added
    in equal number so that "two sentences glued together" is not itself a signal.
    Deterministic for a given seed.
    """
    rng = random.Random(seed)
    benign = [t for t, lab, g in zip(corpus.texts, corpus.labels, corpus.groups, strict=True)
              if lab == 0 and g == "gen_benign" and len(t) < 200]  # fmt: skip
    attacks = [t for t, lab in zip(corpus.texts, corpus.labels, strict=True)
               if lab == 1 and len(t) < 400]  # fmt: skip
    out = Corpus(list(corpus.texts), list(corpus.labels), list(corpus.groups), list(corpus.origins))
    if not benign:
        return out
    for _ in range(copies):
        for attack in attacks:
            sep = rng.choice([" ", ". ", "\n", "? "])
            out.add(rng.choice(benign) + sep + attack, 1, "inj", "augmented")
            out.add(rng.choice(benign) + sep + rng.choice(benign), 0, "gen_benign", "augmented")
    return out
