"""all-MiniLM-L6-v2 sentence embeddings via onnxruntime (int8 weights, no torch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.intents.embedding_memo import EmbeddingMemo
from bot.intents.encoder_files import (
    MODEL_SHA256,
    EmbeddingModelError,
    GraphSpec,
    compact_graph,
    model_file,
    read_export,
)
from bot.intents.encoder_layout import LAYERS, hidden_state_name
from bot.intents.encoder_sessions import (
    FloatArray,
    Sessions,
    check_onnxruntime,
    mean_pool,
    open_cached,
    open_session,
    padded,
    params_digest,
    unit,
)

__all__ = ["DIMENSION", "EXPORT_MODEL_ID", "MIX_LAYER", "MODEL_ID", "EmbeddingModelError",
           "FloatArray", "MiniLMEmbedder", "model_file"]

_TOKENIZER_FILE = Path(__file__).resolve().parent / "assets" / "minilm-tokenizer.json"
# "a8b64": the export's int8 weights multiplied by activations quantised to int8 per block
# of 64 (encoder_graph.py). The export itself computes in float32; the two agree to cosine
# >= 0.999 but not exactly, so models cached with one must not be loaded with the other.
# Any change to the arithmetic of encoder_graph.py must change this id. It names the
# classifier's default embedding (ClassifierConfig.layer_mix = 0: the last layer alone); a
# non-zero layer_mix is pinned by the config's JSON, which is part of the cache key too.
# "s5": the graph also outputs layer 5's states (for layer_mix and a tuned last layer),
# which changes how onnxruntime fuses the nodes there and so the rounding, by ~2e-5.
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8-a8b64s5:" + MODEL_SHA256[:12]
#: The layer whose mean-pooled hidden states ``layer_mix`` blends in (the penultimate one).
MIX_LAYER = LAYERS - 1
#: the embeddings of the export run as it is (`MiniLMEmbedder(compact=False)`)
EXPORT_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8:" + MODEL_SHA256[:12]
DIMENSION = 384
# the memo's key for the compact graph's layer-5 states of one message
_STATES_ID = MODEL_ID + ":layer5"
# The shipped graph with layer 5's states as a second output; and its first five layers
# alone, under a tuned last layer (their states equal the full graph's, bit for bit).
_FULL = GraphSpec(hidden_layers=(MIX_LAYER,))
_FIRST_FIVE = GraphSpec(layers=MIX_LAYER)


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised all-MiniLM-L6-v2 embeddings (what sentence-transformers
    returns for this model), computed with onnxruntime from the int8 ONNX export's weights,
    laid out as a compact int8 graph (:func:`~bot.intents.encoder_graph.build_encoder_graph`)
    that is built once and loaded from ``model_dir`` (:mod:`bot.intents.encoder_files`).

    ``layer_mix`` > 0 (compact graph only) returns ``unit(unit(mean of the last layer) +
    layer_mix * unit(mean of layer 5))`` instead: the same forward pass, one more output.
    0 (the default) returns exactly the sentence-transformers embedding described above.

    ``last_layer`` (compact graph only) swaps the last layer for a fine-tuned one
    (:mod:`bot.intents.finetune`), run as a graph of its own over the token states the
    shipped graph gives after layer 5 (:meth:`layer_states`, also what it is trained on).
    That graph is built from the parameters unless ``last_layer_graph`` gives it (as
    :attr:`last_layer_graph` of an earlier embedder with the same parameters had it).

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
        last_layer: dict[str, FloatArray] | None = None, last_layer_graph: bytes | None = None,
        model_dir: Path | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        check_onnxruntime()
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
            "" if last_layer is None else "+tuned:" + params_digest(last_layer))
        #: the tuned last layer's serialised graph (None without one), to save with a model
        self.last_layer_graph = last_layer_graph
        if last_layer is not None and last_layer_graph is None:
            from bot.intents.encoder_graph import build_last_layer_graph

            self.last_layer_graph = build_last_layer_graph(last_layer)
        tuned = None if last_layer is None else self.last_layer_graph
        # compact=False runs the export as it is (float32 arithmetic, EXPORT_MODEL_ID):
        # models trained on its embeddings keep them (the injection detector's layer).
        export = None if compact else read_export()
        spec = _FULL if last_layer is None else _FIRST_FIVE

        def sessions(threads: int) -> Sessions:
            shipped = (open_session(export, threads) if export is not None else open_cached(
                lambda rebuild: compact_graph(spec, model_dir, rebuild=rebuild), threads))
            return Sessions(shipped, None if tuned is None else open_session(tuned, threads))

        self._sessions = sessions
        self._single: Sessions | None = sessions(inference_threads)
        # The batch sessions are made on first use: a serving process that loads its
        # model from the cache never embeds batches (a session of the compact graph holds
        # ~12 MB, one of the original export ~100 MB).
        self._batch: Sessions | None = (
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
        from bot.intents.encoder_graph import last_layer_parameters

        return last_layer_parameters(read_export())

    def _batch_sessions(self) -> Sessions:
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

    def _one(self, sess: Sessions, ids: list[int]) -> FloatArray:
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

    def _shipped(self, sess: Sessions, batch: list[list[int]], *, states: bool = False
                 ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
        """Mean pools of the shipped last layer (empty with a tuned one) and the layer-5
        states of a padded batch (empty unless something uses them), and its mask; single
        messages leave the states in the memo for a tuned layer."""
        input_ids, mask = padded(batch)
        feeds = {"input_ids": input_ids, "attention_mask": mask,
                 "token_type_ids": np.zeros_like(input_ids)}
        none = np.zeros((0,), np.float32)
        shared = len(batch) == 1 and self._memo is not None
        if not self._compact:
            (last,) = sess.shipped.run(["last_hidden_state"], feeds)
            return mean_pool(last, mask), none, mask
        if sess.tuned is not None:
            (hidden,) = sess.shipped.run([hidden_state_name(MIX_LAYER)], feeds)
            pooled = none
        elif states or shared or self._layer_mix:
            last, hidden = sess.shipped.run(
                ["last_hidden_state", hidden_state_name(MIX_LAYER)], feeds)
            pooled = mean_pool(last, mask)
        else:  # a training batch or an uncached message: the pooled vector is all it needs
            (last,) = sess.shipped.run(["last_hidden_state"], feeds)
            return mean_pool(last, mask), none, mask
        if shared:
            assert self._memo is not None
            self._memo.put((_STATES_ID, tuple(batch[0])), hidden[0])
        return pooled, np.asarray(hidden, dtype=np.float32), mask

    def _tuned(self, sess: Sessions, hidden: FloatArray,
               mask: npt.NDArray[np.int64]) -> FloatArray:
        assert sess.tuned is not None
        (last,) = sess.tuned.run(["last_hidden_state"], {"hidden": hidden,
                                                         "attention_mask": mask})
        return unit(mean_pool(last, mask))

    def _forward(self, sess: Sessions, batch: list[list[int]]) -> FloatArray:
        """Unit embeddings of a batch of token id lists (padded to the longest)."""
        pooled, hidden, mask = self._shipped(sess, batch)
        if sess.tuned is not None:
            return self._tuned(sess, hidden, mask)
        last = unit(pooled)
        if not self._layer_mix:
            return last
        return unit(last + self._layer_mix * unit(mean_pool(hidden, mask)))
