"""Metrics and the text report of the intent evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.intents.classifier import Prediction
from bot.intents.config import OOS_LABEL


@dataclass
class Report:
    """Results of one evaluation run."""

    n_train: int
    n_test: int
    accuracy: float
    macro_f1: float
    p50_ms: float
    p99_ms: float
    cpu_p50_ms: float
    cpu_p99_ms: float
    train_seconds: float
    train_cpu_seconds: float
    threshold: float | None
    temperature: float
    from_cache: bool
    config: dict[str, Any]
    oos_recall: float | None = None
    in_scope_accuracy: float | None = None
    in_scope_accuracy_no_threshold: float | None = None
    y_true: list[str] = field(default_factory=list, repr=False)
    y_pred: list[str] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, Any]:
        """The machine-readable summary printed by ``--json``."""
        out: dict[str, Any] = {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "cpu_p50_ms": self.cpu_p50_ms,
            "cpu_p99_ms": self.cpu_p99_ms,
            "train_seconds": self.train_seconds,
            "train_cpu_seconds": self.train_cpu_seconds,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "threshold": self.threshold,
            "temperature": self.temperature,
            "from_cache": self.from_cache,
            "config": self.config,
        }
        if self.oos_recall is not None:
            out["oos_recall"] = self.oos_recall
            out["in_scope_accuracy"] = self.in_scope_accuracy
            out["in_scope_accuracy_no_threshold"] = self.in_scope_accuracy_no_threshold
        return out


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Unweighted mean F1 over every label that occurs in either sequence."""
    labels = sorted(set(y_true) | set(y_pred))
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    scores = []
    for label in labels:
        tp = float(np.sum((t == label) & (p == label)))
        fp = float(np.sum((t != label) & (p == label)))
        fn = float(np.sum((t == label) & (p != label)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def compute_report(
    y_true: Sequence[str],
    top: Sequence[Prediction],
    seconds: Sequence[float],
    cpu_seconds: Sequence[float],
    *,
    threshold: float | None,
    train_seconds: float,
    train_cpu_seconds: float,
    n_train: int,
    from_cache: bool,
    temperature: float,
    config: dict[str, Any],
) -> Report:
    """Score top-1 predictions. With a ``threshold``, a prediction less confident than it
    becomes ``oos`` — the same rule as :func:`bot.intents.classifier.is_out_of_scope`."""
    raw = [p.label for p in top]
    final = [
        OOS_LABEL if threshold is not None and p.confidence < threshold else p.label for p in top
    ]
    t = np.asarray(y_true)
    f = np.asarray(final)
    ms = np.asarray(seconds) * 1000.0
    cpu_ms = np.asarray(cpu_seconds) * 1000.0
    report = Report(
        n_train=n_train,
        n_test=len(y_true),
        accuracy=float(np.mean(t == f)),
        macro_f1=macro_f1(y_true, final),
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        cpu_p50_ms=float(np.percentile(cpu_ms, 50)),
        cpu_p99_ms=float(np.percentile(cpu_ms, 99)),
        train_seconds=train_seconds,
        train_cpu_seconds=train_cpu_seconds,
        threshold=threshold,
        temperature=temperature,
        from_cache=from_cache,
        config=config,
        y_true=list(y_true),
        y_pred=final,
    )
    oos = t == OOS_LABEL
    if oos.any():
        report.oos_recall = float(np.mean(f[oos] == OOS_LABEL))
        if (~oos).any():
            report.in_scope_accuracy = float(np.mean(f[~oos] == t[~oos]))
            report.in_scope_accuracy_no_threshold = float(np.mean(np.asarray(raw)[~oos] == t[~oos]))
    return report


def format_report(r: Report) -> str:
    """Human-readable report."""
    lines = [
        "Intent classifier evaluation",
        f"  training examples     {r.n_train}" + ("  (loaded from cache)" if r.from_cache else ""),
        f"  test examples         {r.n_test}",
        f"  training time         {r.train_seconds:.1f} s wall clock, "
        f"{r.train_cpu_seconds:.1f} s CPU (all threads)",
        f"  accuracy              {r.accuracy:.2%}",
        f"  macro-F1              {r.macro_f1:.2%}",
    ]
    if r.oos_recall is not None:
        lines += [
            f"  threshold             {r.threshold}",
            f"  in-scope accuracy     {r.in_scope_accuracy:.2%}  (below threshold counts as wrong)",
            f"  in-scope, no thresh.  {r.in_scope_accuracy_no_threshold:.2%}",
            f"  out-of-scope recall   {r.oos_recall:.2%}",
        ]
    elif r.threshold is not None:
        lines.append(f"  threshold             {r.threshold} (below it counts as '{OOS_LABEL}')")
    lines += [
        f"  latency, one message  p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms (wall clock)",
        f"  CPU per message       p50 {r.cpu_p50_ms:.2f} ms, p99 {r.cpu_p99_ms:.2f} ms",
        f"  softmax temperature   {r.temperature:.3f}",
    ]
    return "\n".join(lines) + "\n"
