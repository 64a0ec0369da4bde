from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from bot.intents.embedding import MiniLMEmbedder, model_file
from bot.intents.encoder_graph import (
    GraphLayoutError,
    _Builder,
    build_encoder_graph,
    read_model,
)

TEXTS = [
    "How do I locate my card?",
    "I still have not received my new card, I ordered over a week ago.",
    "what's the exchange rate",
    "Why was I charged an extra fee when I paid with my card abroad in euros last Tuesday?",
    "hi",
]


def _session(model: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def export() -> bytes:
    return model_file().read_bytes()


@pytest.fixture(scope="module")
def token_ids() -> Iterator[list[list[int]]]:
    embedder = MiniLMEmbedder()
    tokenizer = embedder._tokenizer
    yield [enc.ids for enc in tokenizer.encode_batch(TEXTS)]
    embedder.close()


def _padded(ids: list[list[int]]) -> dict[str, np.ndarray]:
    width = max(len(x) for x in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros_like(input_ids)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}


def _pooled(session: ort.InferenceSession, ids: list[list[int]]) -> np.ndarray:
    """Mean-pooled, normalised embeddings of ``ids`` run as one padded batch."""
    feeds = _padded(ids)
    (hidden,) = session.run(["last_hidden_state"], feeds)
    mask = feeds["attention_mask"][:, :, None]
    pooled = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
    out: np.ndarray = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return out


def test_float_graph_reproduces_the_export(export: bytes, token_ids: list[list[int]]) -> None:
    # Same weights, same float32 arithmetic: only the wiring differs, so this pins it down.
    feeds = _padded(token_ids)
    (want,) = _session(export).run(["last_hidden_state"], feeds)
    (got,) = _session(build_encoder_graph(export, int8_matmuls=False)).run(
        ["last_hidden_state"], feeds
    )
    real = feeds["attention_mask"].astype(bool)  # padded positions are never pooled
    np.testing.assert_allclose(got[real], want[real], atol=2e-4)


def test_int8_graph_is_equivalent_to_the_export(
    export: bytes, token_ids: list[list[int]]
) -> None:
    want = _pooled(_session(export), token_ids)
    fast = _session(build_encoder_graph(export))
    got = _pooled(fast, token_ids)
    assert (got * want).sum(axis=1).min() >= 0.999
    # Padding a message into a batch does not change its embedding.
    alone = np.vstack([_pooled(fast, [ids]) for ids in token_ids])
    np.testing.assert_allclose(alone, got, atol=1e-5)


def _value(name: str, dims: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def test_rejects_a_model_that_is_not_the_minilm_export() -> None:
    b = _Builder({}, int8_matmuls=False)
    b.op("MatMul", ["x", b.const("w", np.eye(2, dtype=np.float32))], "y")
    other = b.model([_value("x", [1, 2])], [_value("y", [1, 2])], "other")
    with pytest.raises(GraphLayoutError):
        build_encoder_graph(other)


def test_written_model_runs_and_reads_back() -> None:
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    bias = np.array([1, -2, 3, -4], dtype=np.int64)
    b = _Builder({}, int8_matmuls=False)
    b.op("MatMul", ["x", b.const("w", w)], "xw")
    b.op("Cast", [b.const("bias", bias)], "bias_f", to=TensorProto.FLOAT)
    b.op("Add", ["xw", "bias_f"], "sum")
    b.op("LeakyRelu", ["sum"], "leaky", alpha=0.25)
    b.op("ReduceSum", ["leaky", b.const("axes", np.array([-1], dtype=np.int64))], "y",
         keepdims=1)
    b.op("Transpose", ["leaky"], "t", perm=[1, 0])
    b.op("Softmax", ["t"], "p", axis=-1)
    model = b.model([_value("x", ["batch", 3])],
                    [_value("y", ["batch", 1]), _value("p", [4, "batch"])], "test")
    x = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], dtype=np.float32)
    y, p = _session(model).run(["y", "p"], {"x": x})
    s = x @ w + bias
    leaky = np.where(s > 0, s, 0.25 * s)
    np.testing.assert_allclose(y, leaky.sum(axis=1, keepdims=True), rtol=1e-6)
    e = np.exp(leaky.T - leaky.T.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(axis=1, keepdims=True), rtol=1e-5)

    tensors, nodes = read_model(model)
    assert set(tensors) == {"w", "bias", "axes"}
    np.testing.assert_array_equal(tensors["w"], w)
    np.testing.assert_array_equal(tensors["bias"], bias)
    assert [n.op_type for n in nodes][:3] == ["MatMul", "Cast", "Add"]
    assert tuple(nodes[4].input) == ("leaky", "axes") and tuple(nodes[4].output) == ("y",)


def test_truncated_model_is_an_error() -> None:
    b = _Builder({}, int8_matmuls=False)
    b.const("w", np.ones(4, dtype=np.float32))
    model = b.model([], [], "empty")
    with pytest.raises(GraphLayoutError):
        read_model(model[: len(model) // 2])


def test_too_old_onnxruntime_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.intents.embedding import EmbeddingModelError

    monkeypatch.setattr(ort, "__version__", "1.21.1")
    with pytest.raises(EmbeddingModelError, match=r"onnxruntime>=1\.22"):
        MiniLMEmbedder()
