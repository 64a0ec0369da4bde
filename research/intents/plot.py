"""Confusion-matrix plot for ``bot eval intents --plot`` (needs the ``[eval]`` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

# The object-oriented API with the Agg canvas: no pyplot global state, no backend switch,
# never tries to open a display.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def save_confusion_matrix(path: Path, y_true: Sequence[str], y_pred: Sequence[str]) -> None:
    """Write a row-normalised confusion matrix (rows: true label) as a PNG."""
    labels = sorted(set(y_true) | set(y_pred))
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.float64)
    for t, p in zip(y_true, y_pred, strict=True):
        counts[index[t], index[p]] += 1
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = min(40.0, max(6.0, 0.18 * len(labels)))
    font = 6 if len(labels) > 40 else 9
    fig = Figure(figsize=(size, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(len(labels)), labels, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix ({len(y_true)} messages, rows sum to 1)")
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
