"""onnxruntime sessions of the encoder graphs, and the array plumbing around them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.intents.encoder_files import EmbeddingModelError

FloatArray = npt.NDArray[np.float32]
# The first release whose CPU MatMulNBits accepts 8-bit weights (1.21 allows only 4).
_MIN_ONNXRUNTIME = (1, 22)


def _version(text: str) -> tuple[int, ...]:
    """(major, minor) of a version string such as "1.22.0" or "1.23.0.dev20250101"."""
    parts = [int(p) if p.isdigit() else 0 for p in text.split(".")[:2]]
    return tuple(parts)


def check_onnxruntime() -> None:
    """Raise :class:`EmbeddingModelError` when onnxruntime cannot run the int8 graphs."""
    import onnxruntime as ort

    if _version(ort.__version__) < _MIN_ONNXRUNTIME:
        raise EmbeddingModelError(
            f"onnxruntime {ort.__version__} cannot run the int8 encoder graph (MatMulNBits "
            "with 8-bit weights); it needs onnxruntime>=1.22"
        )


def open_session(model: str | bytes, threads: int) -> Any:
    """An onnxruntime CPU session of ``model`` (a file's path or a serialised graph)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # Busy-waiting worker threads burn a shared core for nothing between batches.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def open_cached(graph: Callable[[bool], str | bytes], threads: int) -> Any:
    """A session of the graph ``graph(rebuild)`` gives; a cached file that does not load
    (damaged on disk) is built again once."""
    model = graph(False)
    if not isinstance(model, str):
        return open_session(model, threads)
    try:
        return open_session(model, threads)
    except Exception:  # onnxruntime's own exception types (InvalidProtobuf, Fail, ...)
        return open_session(graph(True), threads)


@dataclass
class Sessions:
    """The shipped graph's session, and the tuned last layer's when there is one."""

    shipped: Any
    tuned: Any | None


def mean_pool(states: Any, mask: npt.NDArray[np.int64]) -> FloatArray:
    weights = mask[:, :, None].astype(np.float32)
    pooled: FloatArray = (np.asarray(states, dtype=np.float32) * weights).sum(axis=1) / (
        weights.sum(axis=1))
    return pooled


def padded(batch: list[list[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Token ids padded to the longest, and the attention mask."""
    width = max(len(x) for x in batch)
    input_ids = np.zeros((len(batch), width), dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, x in enumerate(batch):
        input_ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return input_ids, mask


def params_digest(params: dict[str, FloatArray]) -> str:
    """Short hash of a layer's parameters (part of the memo's key for a tuned layer)."""
    digest = hashlib.sha256()
    for name in sorted(params):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(params[name], dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def unit(rows: FloatArray) -> FloatArray:
    """Rows scaled to unit length (all-zero rows stay zero)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: FloatArray = rows / np.maximum(norms, 1e-12)
    return out
