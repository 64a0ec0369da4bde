"""Regenerate ``bot/safety/data/injection_model.npz`` (the detector's n-gram layer).

Usage::

    python -m research.injection.train_ngram [--datasets /work/shared/datasets] [--out PATH]

Training data, TRAIN splits only (test splits are reserved for the benchmark):

* deepset/prompt-injections ``train.csv`` (label 1 = injection);
* BANKING77 ``train.csv`` texts as benign;
* CLINC150 ``train``, ``val``, ``oos_train``, ``oos_val`` texts as benign;
* ``research/injection/data/injection_extra.csv``: hand-written injections and benign
  near-misses.

The operating threshold is picked from 5-fold out-of-fold probabilities: the lowest
threshold whose false-positive rate on the benign customer messages stays within
``--target-fpr``. Needs scikit-learn and scipy (``pip install -e '.[train]'``); the
detector itself needs only numpy. Training is deterministic.
"""

from __future__ import annotations

import argparse
import csv
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.safety.injection_model import (
    DEFAULT_MODEL_RESOURCE,
    FeatureConfig,
    LinearInjectionModel,
    count_features,
    tfidf_block,
)
from bot.safety.normalize import normalize
from research.injection.corpus import Corpus, augment, load_corpus

__all__ = ["Corpus", "cv_splits", "load_corpus", "main", "ngram_oof", "pick_threshold", "train"]

DEFAULT_DATASETS = Path("/work/shared/datasets")
# The file the detector ships: bot/safety/data in this checkout.
DEFAULT_OUT = Path(str(resources.files("bot.safety.data").joinpath(DEFAULT_MODEL_RESOURCE)))


def _matrix(counts: list[tuple[Any, Any]], idf: npt.NDArray[np.float32], cfg: FeatureConfig) -> Any:
    from scipy import sparse

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


def _weights(
    groups: list[str], labels: list[int], ratios: dict[str, float]
) -> npt.NDArray[np.float64]:
    # Each group gets total weight proportional to its ratio, whatever its size, so the
    # few hundred injections are not swamped by ~28k customer messages.
    g = np.array(groups)
    w = np.zeros(len(groups), dtype=np.float64)
    for name, ratio in ratios.items():
        mask = g == name
        if mask.any():
            w[mask] = ratio * len(groups) / (len(ratios) * mask.sum())
    return w


def pick_threshold(
    probs: npt.NDArray[np.float64], benign_mask: npt.NDArray[np.bool_], target_fpr: float
) -> float:
    """Lowest threshold whose FPR over ``benign_mask`` rows is <= ``target_fpr``."""
    neg = np.sort(probs[benign_mask])[::-1]
    allowed = int(np.floor(target_fpr * len(neg)))
    # Flagged means prob >= t; to flag at most `allowed` benign rows, t must be just
    # above the (allowed+1)-th highest benign probability.
    if allowed >= len(neg):
        return 0.5
    return float(np.nextafter(neg[allowed], 1.0))


def _near_duplicate_groups(texts: list[str]) -> list[int]:
    """Group ids that keep near-duplicates in the same CV fold.

    deepset's train split contains augmented copies of an attack with a benign
    question prepended; without grouping, cross-validation scores such copies against
    a model that saw the original and overstates recall. The last 40 normalised
    characters identify the shared attack well enough.
    """
    ids: dict[str, int] = {}
    out: list[int] = []
    for text in texts:
        key = normalize(text).squashed[-40:]
        out.append(ids.setdefault(key, len(ids)))
    return out


def _combined_cv(
    corpus: Corpus,
    oof: npt.NDArray[np.float64],
    threshold: float,
    y: npt.NDArray[np.int64],
    groups: npt.NDArray[np.str_],
) -> dict[str, float]:
    """Cross-validated figures for rules + model at the default detector thresholds."""
    from bot.safety.injection import InjectionDetector

    origins = np.array(corpus.origins)
    rules_only = InjectionDetector(use_model=False)
    rule_scores = np.array([rules_only.check(t).score for t in corpus.texts])
    out: dict[str, float] = {}
    # The chosen threshold plus a few alternative operating points, for the benchmark doc.
    for target in (None, 0.002, 0.005, 0.01):
        t = threshold if target is None else pick_threshold(oof, groups == "cust_benign", target)
        # Same calibration and noisy-OR as InjectionDetector.check.
        cal = np.array([InjectionDetector.calibrate(float(p), t) for p in oof])
        flagged = 1.0 - (1.0 - rule_scores) * (1.0 - cal) >= rules_only.harden_threshold
        tag = "" if target is None else f"@{target}"
        out[f"cv_combined_recall_injections{tag}"] = float(flagged[y == 1].mean())
        out[f"cv_combined_fpr_customer{tag}"] = float(flagged[groups == "cust_benign"].mean())
        out[f"cv_combined_fpr_general_benign{tag}"] = float(flagged[groups == "gen_benign"].mean())
        deepset_inj = (y == 1) & (origins == "deepset")
        out[f"cv_combined_recall_deepset{tag}"] = float(flagged[deepset_inj].mean())
    return out


def _write_oof(path: Path, corpus: Corpus, oof: npt.NDArray[np.float64]) -> None:
    # For error analysis on the training data (never on a test split).
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "group", "oof_prob"])
        for text, label, group, prob in zip(
            corpus.texts, corpus.labels, corpus.groups, oof, strict=True
        ):
            writer.writerow([text, label, group, f"{prob:.5f}"])


def cv_splits(
    corpus: Corpus, folds: int = 5
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Grouped, stratified (train, test) index pairs shared by every layer's CV."""
    from sklearn.model_selection import StratifiedGroupKFold

    strata = np.array([f"{g}{lab}" for g, lab in zip(corpus.groups, corpus.labels, strict=True)])
    skf = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=0)
    groups = _near_duplicate_groups(corpus.texts)
    return list(skf.split(np.zeros(len(strata)), strata, groups))


def ngram_oof(
    corpus: Corpus,
    cfg: FeatureConfig,
    c: float,
    ratios: dict[str, float],
    folds: int = 5,
    counts: list[tuple[Any, Any]] | None = None,
) -> npt.NDArray[np.float64]:
    """Out-of-fold n-gram model probabilities over the :func:`cv_splits` folds."""
    if counts is None:
        counts = [count_features(normalize(t).text, cfg) for t in corpus.texts]
    y = np.array(corpus.labels, dtype=np.int64)
    groups = np.array(corpus.groups)
    oof = np.zeros(len(y), dtype=np.float64)
    for tr, te in cv_splits(corpus, folds):
        tr_counts = [counts[i] for i in tr]
        idf = _idf(tr_counts, cfg)
        clf = _fit(
            _matrix(tr_counts, idf, cfg), y[tr], _weights(list(groups[tr]), list(y[tr]), ratios), c
        )
        oof[te] = clf.predict_proba(_matrix([counts[i] for i in te], idf, cfg))[:, 1]
    return oof


def train(
    corpus: Corpus,
    cfg: FeatureConfig,
    c: float,
    ratios: dict[str, float],
    target_fpr: float,
    folds: int = 5,
    oof_out: Path | None = None,
) -> tuple[LinearInjectionModel, dict[str, Any]]:
    """Cross-validate for the threshold, then fit on everything."""
    counts = [count_features(normalize(t).text, cfg) for t in corpus.texts]
    y = np.array(corpus.labels, dtype=np.int64)
    groups = np.array(corpus.groups)
    oof = ngram_oof(corpus, cfg, c, ratios, folds, counts)
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
    if oof_out is not None:
        _write_oof(oof_out, corpus, oof)
    idf = _idf(counts, cfg)
    clf = _fit(_matrix(counts, idf, cfg), y, _weights(corpus.groups, corpus.labels, ratios), c)
    model = LinearInjectionModel(
        cfg, idf, clf.coef_[0].astype(np.float32), float(clf.intercept_[0]), threshold=threshold
    )
    return model, cv


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints cross-validation figures as JSON."""
    parser = argparse.ArgumentParser(prog="python -m research.injection.train_ngram")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--extra", type=Path, default=None, help="override injection_extra.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--C", dest="c", type=float, default=8.0)
    parser.add_argument("--dim-bits", type=int, default=18)
    parser.add_argument("--char-max", type=int, default=5)
    parser.add_argument("--target-fpr", type=float, default=0.005)
    parser.add_argument("--augment", type=int, default=2, help="embedded-attack copies per attack")
    parser.add_argument("--oof-out", type=Path, default=None, help="write CV probabilities CSV")
    parser.add_argument(
        "--weights",
        default="inj=1,gen_benign=0.5,cust_benign=0.5",
        help="relative total weight per sample group",
    )
    args = parser.parse_args(argv)
    ratios = {k: float(v) for k, v in (p.split("=") for p in args.weights.split(","))}
    cfg = FeatureConfig(dim_bits=args.dim_bits, char_max=args.char_max)
    corpus = load_corpus(args.datasets, args.extra)
    if args.augment:
        corpus = augment(corpus, args.augment)
    model, cv = train(corpus, cfg, args.c, ratios, args.target_fpr, oof_out=args.oof_out)
    meta = {
        "C": args.c,
        "weights": ratios,
        "augment": args.augment,
        "target_fpr": args.target_fpr,
        "cv": cv,
        "n_train": len(corpus.texts),
    }
    model.save(args.out, meta)
    print(json.dumps(meta, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
