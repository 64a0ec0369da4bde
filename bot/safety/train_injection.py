"""Regenerate ``bot/safety/data/injection_model.npz``.

Usage::

    python -m bot.safety.train_injection [--datasets /work/shared/datasets] [--out PATH]

Training data, TRAIN splits only (test splits are reserved for the benchmark):

* deepset/prompt-injections ``train.csv`` (label 1 = injection);
* BANKING77 ``train.csv`` texts as benign;
* CLINC150 ``train``, ``val``, ``oos_train``, ``oos_val`` texts as benign;
* ``bot/safety/data/injection_extra.csv``: hand-written injections and benign
  near-misses shipped with the package.

The operating threshold is picked from 5-fold out-of-fold probabilities: the lowest
threshold whose false-positive rate on the benign customer messages stays within
``--target-fpr``. Needs scikit-learn and scipy (``pip install -e '.[train]'``); the
detector itself needs only numpy. Training is deterministic.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.safety.injection_model import FeatureConfig, LinearInjectionModel, count_features
from bot.safety.normalize import normalize

__all__ = ["Corpus", "load_corpus", "main", "train"]

DEFAULT_DATASETS = Path("/work/shared/datasets")
DEFAULT_OUT = Path(__file__).parent / "data" / "injection_model.npz"

# Sample groups; weights per group are a training hyper-parameter (see --weights).
GROUPS = ("inj", "gen_benign", "cust_benign")


@dataclass
class Corpus:
    """Texts with labels and the group each belongs to."""

    texts: list[str]
    labels: list[int]
    groups: list[str]

    def add(self, text: str, label: int, group: str) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.groups.append(group)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_corpus(datasets: Path, extra_csv: Path | None = None) -> Corpus:
    """Assemble the training corpus from the train splits under ``datasets``."""
    corpus = Corpus([], [], [])
    deepset = datasets / "prompt_injection" / "deepset_prompt_injections" / "train.csv"
    for row in _read_csv(deepset):
        label = int(row["label"])
        corpus.add(row["text"], label, "inj" if label else "gen_benign")
    for row in _read_csv(datasets / "banking77" / "train.csv"):
        corpus.add(row["text"], 0, "cust_benign")
    with (datasets / "clinc150" / "data_full.json").open(encoding="utf-8") as fh:
        clinc = json.load(fh)
    for split in ("train", "val", "oos_train", "oos_val"):
        for text, _intent in clinc[split]:
            corpus.add(text, 0, "cust_benign")
    if extra_csv is None:
        ref = resources.files("bot.safety.data").joinpath("injection_extra.csv")
        rows = list(csv.DictReader(io.StringIO(ref.read_text(encoding="utf-8"), newline="")))
    else:
        rows = _read_csv(extra_csv)
    for row in rows:
        label = int(row["label"])
        corpus.add(row["text"], label, "inj" if label else "gen_benign")
    return corpus


def _matrix(counts: list[tuple[Any, Any]], idf: npt.NDArray[np.float32], cfg: FeatureConfig) -> Any:
    from scipy import sparse

    from bot.safety.injection_model import tfidf_block

    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[npt.NDArray[np.float32]] = []
    for i, (words, chars) in enumerate(counts):
        for block in (words, chars):
            idx, v = tfidf_block(block, idf)
            rows.append(np.full(len(idx), i, dtype=np.int64))
            cols.append(idx)
            vals.append(v)
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(counts), cfg.dim),
        dtype=np.float32,
    )


def _idf(counts: list[tuple[Any, Any]], cfg: FeatureConfig) -> npt.NDArray[np.float32]:
    df = np.zeros(cfg.dim, dtype=np.float64)
    for words, chars in counts:
        df[np.fromiter(set(words) | set(chars), dtype=np.int64)] += 1.0
    n = len(counts)
    # Same smoothing as scikit-learn's TfidfVectorizer(smooth_idf=True).
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


def _fit(x: Any, y: npt.NDArray[np.int64], w: npt.NDArray[np.float64], c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
    clf.fit(x, y, sample_weight=w)
    return clf


def _weights(groups: list[str], labels: list[int], ratios: dict[str, float]) -> npt.NDArray[np.float64]:
    # Each group gets total weight proportional to its ratio, whatever its size, so the
    # few hundred injections are not swamped by ~28k customer messages.
    g = np.array(groups)
    w = np.zeros(len(groups), dtype=np.float64)
    for name, ratio in ratios.items():
        mask = g == name
        if mask.any():
            w[mask] = ratio * len(groups) / (len(ratios) * mask.sum())
    return w


def pick_threshold(probs: npt.NDArray[np.float64], benign_mask: npt.NDArray[np.bool_], target_fpr: float) -> float:
    """Lowest threshold whose FPR over ``benign_mask`` rows is <= ``target_fpr``."""
    neg = np.sort(probs[benign_mask])[::-1]
    allowed = int(np.floor(target_fpr * len(neg)))
    # Flagged means prob >= t; to flag at most `allowed` benign rows, t must be just
    # above the (allowed+1)-th highest benign probability.
    if allowed >= len(neg):
        return 0.5
    return float(np.nextafter(neg[allowed], 1.0))


def _combined_cv(
    corpus: Corpus,
    oof: npt.NDArray[np.float64],
    threshold: float,
    y: npt.NDArray[np.int64],
    groups: npt.NDArray[np.str_],
) -> dict[str, float]:
    """Cross-validated figures for rules + model at the default detector thresholds."""
    from bot.safety.injection import InjectionDetector

    rules_only = InjectionDetector(use_model=False)
    probe = InjectionDetector(model_threshold=threshold)
    flagged = np.zeros(len(y), dtype=bool)
    for i, text in enumerate(corpus.texts):
        rule = rules_only.check(text).score
        # Same calibration and noisy-OR as InjectionDetector.check.
        cal = probe.calibrate(float(oof[i]), threshold)
        flagged[i] = 1.0 - (1.0 - rule) * (1.0 - cal) >= probe.harden_threshold
    return {
        "cv_combined_recall_injections": float(flagged[y == 1].mean()),
        "cv_combined_fpr_customer": float(flagged[groups == "cust_benign"].mean()),
        "cv_combined_fpr_general_benign": float(flagged[groups == "gen_benign"].mean()),
    }


def train(
    corpus: Corpus,
    cfg: FeatureConfig,
    c: float,
    ratios: dict[str, float],
    target_fpr: float,
    folds: int = 5,
) -> tuple[LinearInjectionModel, dict[str, Any]]:
    """Cross-validate for the threshold, then fit on everything."""
    from sklearn.model_selection import StratifiedKFold

    counts = [count_features(normalize(t).text, cfg) for t in corpus.texts]
    y = np.array(corpus.labels, dtype=np.int64)
    groups = np.array(corpus.groups)
    strata = np.array([f"{g}{lab}" for g, lab in zip(corpus.groups, corpus.labels, strict=True)])
    oof = np.zeros(len(y), dtype=np.float64)
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for tr, te in skf.split(np.zeros(len(y)), strata):
        tr_counts = [counts[i] for i in tr]
        idf = _idf(tr_counts, cfg)
        clf = _fit(
            _matrix(tr_counts, idf, cfg), y[tr], _weights(list(groups[tr]), list(y[tr]), ratios), c
        )
        oof[te] = clf.predict_proba(_matrix([counts[i] for i in te], idf, cfg))[:, 1]
    threshold = pick_threshold(oof, groups == "cust_benign", target_fpr)
    flagged = oof >= threshold
    inj = y == 1
    cv = {
        "threshold": threshold,
        "cv_recall_injections": float(flagged[inj].mean()),
        "cv_fpr_customer": float(flagged[groups == "cust_benign"].mean()),
        "cv_fpr_general_benign": float(flagged[groups == "gen_benign"].mean()),
    }
    cv.update(_combined_cv(corpus, oof, threshold, y, groups))
    idf = _idf(counts, cfg)
    clf = _fit(_matrix(counts, idf, cfg), y, _weights(corpus.groups, corpus.labels, ratios), c)
    model = LinearInjectionModel(
        cfg, idf, clf.coef_[0].astype(np.float32), float(clf.intercept_[0]), threshold=threshold
    )
    return model, cv


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints cross-validation figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bot.safety.train_injection")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--extra", type=Path, default=None, help="override injection_extra.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--C", dest="c", type=float, default=8.0)
    parser.add_argument("--dim-bits", type=int, default=18)
    parser.add_argument("--char-max", type=int, default=5)
    parser.add_argument("--target-fpr", type=float, default=0.003)
    parser.add_argument(
        "--weights",
        default="inj=1,gen_benign=0.5,cust_benign=0.5",
        help="relative total weight per sample group",
    )
    args = parser.parse_args(argv)
    ratios = {k: float(v) for k, v in (p.split("=") for p in args.weights.split(","))}
    cfg = FeatureConfig(dim_bits=args.dim_bits, char_max=args.char_max)
    corpus = load_corpus(args.datasets, args.extra)
    model, cv = train(corpus, cfg, args.c, ratios, args.target_fpr)
    meta = {"C": args.c, "weights": ratios, "target_fpr": args.target_fpr, "cv": cv,
            "n_train": len(corpus.texts)}  # fmt: skip
    model.save(args.out, meta)
    print(json.dumps(meta, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
