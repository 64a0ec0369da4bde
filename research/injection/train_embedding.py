"""Regenerate ``bot/safety/data/injection_embedding.npz`` (the detector's embedding layer).

Usage::

    python -m research.injection.train_embedding [--datasets /work/shared/datasets]

Same training corpus, augmentation, sample weights and grouped CV folds as
:mod:`research.injection.train_ngram` (TRAIN splits only). Steps:

1. n-gram model out-of-fold (OOF) probabilities with the shipped n-gram settings;
2. MiniLM embeddings of every training text (cached under ``--cache-dir``), and a
   logistic regression on them for each ``--C`` candidate, OOF over the same folds;
3. a blend ``sigmoid(a*logit(p_ngram) + b*logit_emb + c)`` fitted per fold on the
   other folds' OOF scores, so the blended scores are still out-of-fold;
4. C is chosen by CV recall on deepset injections (rules + blend, at the threshold
   that keeps out-of-fold customer FPR within ``--target-fpr``, 0.75 % by default:
   three quarters of the 1 % budget, the rest a margin for CV-to-test drift), then the
   embedding model and blend are refitted on everything.

Needs scikit-learn (``pip install -e '.[train]'``). Deterministic for a given corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.safety.injection import InjectionDetector
from bot.safety.injection_embedding import (
    DEFAULT_EMBEDDING_RESOURCE,
    MAX_TOKENS,
    EmbeddingInjectionModel,
    clip_for_embedding,
)
from bot.safety.injection_model import FeatureConfig
from bot.safety.normalize import normalize
from research.injection.corpus import Corpus, augment, load_corpus
from research.injection.train_ngram import (
    DEFAULT_DATASETS,
    _weights,
    cv_splits,
    ngram_oof,
    pick_threshold,
)

__all__ = ["embed_corpus", "main"]

# The file the detector ships: bot/safety/data in this checkout.
DEFAULT_OUT = Path(str(resources.files("bot.safety.data").joinpath(DEFAULT_EMBEDDING_RESOURCE)))
Array = npt.NDArray[np.float64]


def embed_corpus(texts: list[str], cache_dir: Path, *,
                 compact: bool = True) -> npt.NDArray[np.float32]:
    """MiniLM embeddings of normalised, clipped ``texts``; cached by content hash.

    ``compact`` selects the encoder graph the detector runs (the classifier's compact
    int8 graph; False: the export as it is, which layers trained before it used)."""
    from bot.intents.embedding import EXPORT_MODEL_ID, MODEL_ID, MiniLMEmbedder

    prepared = [clip_for_embedding(normalize(t).text) for t in texts]
    key = hashlib.sha256(
        json.dumps([MODEL_ID if compact else EXPORT_MODEL_ID, MAX_TOKENS, prepared]).encode()
    ).hexdigest()[:16]
    path = cache_dir / f"injection-embeddings-{key}.npy"
    if path.exists():
        cached: npt.NDArray[np.float32] = np.load(path, allow_pickle=False)
        return cached
    # One thread: the machine is shared and this runs once per corpus change.
    embedder = MiniLMEmbedder(max_tokens=MAX_TOKENS, inference_threads=1, batch_threads=1,
                              compact=compact, model_dir=cache_dir)
    vectors = embedder.embed(prepared, batch_size=64)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors, allow_pickle=False)
    return vectors


def _logit(p: Array) -> Array:
    p = np.clip(p, 1e-6, 1.0 - 1e-6)
    return np.asarray(np.log(p / (1.0 - p)), dtype=np.float64)


def _fit_lr(x: Any, y: Any, w: Any, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="lbfgs", max_iter=2000).fit(x, y, sample_weight=w)


def _combined(rule_scores: Array, probs: Array, t: float) -> npt.NDArray[np.bool_]:
    cal = np.array([InjectionDetector.calibrate(float(p), t) for p in probs])
    return np.asarray(1.0 - (1.0 - rule_scores) * (1.0 - cal) >= 0.5)


def _report(
    name: str, probs: Array, rule_scores: Array, corpus: Corpus, target: float
) -> dict[str, float]:
    y = np.array(corpus.labels)
    groups = np.array(corpus.groups)
    deepset_inj = (y == 1) & (np.array(corpus.origins) == "deepset")
    t = pick_threshold(probs, groups == "cust_benign", target)
    flagged = _combined(rule_scores, probs, t)
    return {
        f"{name}_threshold": t,
        f"{name}_recall_deepset": float(flagged[deepset_inj].mean()),
        f"{name}_recall_all": float(flagged[y == 1].mean()),
        f"{name}_fpr_customer": float(flagged[groups == "cust_benign"].mean()),
        f"{name}_fpr_general": float(flagged[groups == "gen_benign"].mean()),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints the CV table and the chosen C as JSON."""
    parser = argparse.ArgumentParser(prog="python -m research.injection.train_embedding")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cache-dir", type=Path, default=Path(".data"))
    parser.add_argument("--C", dest="cs", default="0.3,1,3,10,30", help="comma-separated")
    parser.add_argument("--target-fpr", type=float, default=0.0075)
    parser.add_argument("--augment", type=int, default=2)
    parser.add_argument("--ngram-C", dest="ngram_c", type=float, default=8.0)
    parser.add_argument("--weights", default="inj=1,gen_benign=0.5,cust_benign=0.5")
    parser.add_argument("--graph", choices=("compact", "export"), default="compact",
                        help="encoder graph the embeddings come from (the detector's)")
    args = parser.parse_args(argv)
    ratios = {k: float(v) for k, v in (p.split("=") for p in args.weights.split(","))}

    corpus = augment(load_corpus(args.datasets), args.augment)
    y = np.array(corpus.labels, dtype=np.int64)
    w = _weights(corpus.groups, corpus.labels, ratios)
    splits = cv_splits(corpus)
    ng = _logit(ngram_oof(corpus, FeatureConfig(), args.ngram_c, ratios))
    emb = embed_corpus(corpus.texts, args.cache_dir, compact=args.graph == "compact")
    rules = InjectionDetector(use_model=False)
    rule_scores = np.array([rules.check(t).score for t in corpus.texts])

    table: dict[str, Any] = {}
    table.update(_report("ngram", 1 / (1 + np.exp(-ng)), rule_scores, corpus, args.target_fpr))
    best: tuple[float, float] | None = None
    for c in (float(v) for v in args.cs.split(",")):
        em = np.zeros(len(y))
        for tr, te in splits:
            em[te] = _fit_lr(emb[tr], y[tr], w[tr], c).decision_function(emb[te])
        pair = np.column_stack([ng, em])
        blended = np.zeros(len(y))
        for tr, te in splits:
            stack = _fit_lr(pair[tr], y[tr], w[tr], 1.0)
            blended[te] = stack.predict_proba(pair[te])[:, 1]
        emb_only = 1 / (1 + np.exp(-em))
        row = _report("emb", emb_only, rule_scores, corpus, args.target_fpr)
        row.update(_report("blend", blended, rule_scores, corpus, args.target_fpr))
        row.update(_report("blend@0.005", blended, rule_scores, corpus, 0.005))
        row.update(_report("blend@0.01", blended, rule_scores, corpus, 0.01))
        table[f"C={c:g}"] = row
        if best is None or row["blend_recall_deepset"] > best[1]:
            best = (c, row["blend_recall_deepset"])
    assert best is not None
    c = best[0]
    chosen = table[f"C={c:g}"]
    em_model = _fit_lr(emb, y, w, c)
    em_all = em_model.decision_function(emb)
    # Blend weights from OOF embedding scores (the final embedding model's in-sample
    # logits would be overconfident); threshold from the out-of-fold blend above.
    em = np.zeros(len(y))
    for tr, te in splits:
        em[te] = _fit_lr(emb[tr], y[tr], w[tr], c).decision_function(emb[te])
    stack = _fit_lr(np.column_stack([ng, em]), y, w, 1.0)
    a, b = (float(v) for v in stack.coef_[0])
    model = EmbeddingInjectionModel(
        em_model.coef_[0].astype(np.float32),
        float(em_model.intercept_[0]),
        (a, b, float(stack.intercept_[0])),
        chosen["blend_threshold"],
        graph=args.graph,
    )
    meta = {"C": c, "target_fpr": args.target_fpr, "augment": args.augment, "cv": table,
            "n_train": len(y), "train_logit_range": [float(em_all.min()), float(em_all.max())]}
    model.save(args.out, meta)
    print(json.dumps(meta, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
