"""The memo of one-message embeddings shared by the process's encoders."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from bot.intents.embedding import MiniLMEmbedder
from bot.intents.embedding_memo import EmbeddingMemo

WAIT_S = 10


def vector(value: float) -> np.ndarray:
    return np.full(4, value, dtype=np.float32)


def test_computes_once_per_key_and_remembers() -> None:
    memo = EmbeddingMemo()
    calls: list[str] = []

    def compute(name: str, value: float) -> np.ndarray:
        calls.append(name)
        return vector(value)

    first = memo.get(("g", (1, 2)), lambda: compute("a", 1.0))
    again = memo.get(("g", (1, 2)), lambda: compute("b", 2.0))
    other_graph = memo.get(("h", (1, 2)), lambda: compute("c", 3.0))
    assert calls == ["a", "c"]
    assert np.array_equal(first, again) and float(other_graph[0]) == 3.0
    assert (memo.hits, memo.misses) == (1, 2)
    with pytest.raises(ValueError):
        first[0] = 5.0  # shared between callers: read-only


def test_a_second_thread_waits_for_the_computation_under_way() -> None:
    memo = EmbeddingMemo()
    release = threading.Event()
    calls: list[int] = []

    def slow() -> np.ndarray:
        calls.append(1)
        assert release.wait(WAIT_S)
        return vector(7.0)

    results: list[np.ndarray] = []
    first = threading.Thread(target=lambda: results.append(memo.get("k", slow)))
    first.start()
    while not calls:
        time.sleep(0.001)
    second = threading.Thread(target=lambda: results.append(memo.get("k", slow)))
    second.start()
    deadline = time.monotonic() + WAIT_S
    while memo.hits == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    release.set()
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert calls == [1] and len(results) == 2
    assert all(float(r[0]) == 7.0 for r in results)


def test_a_failed_computation_is_not_remembered() -> None:
    memo = EmbeddingMemo()

    def broken() -> np.ndarray:
        raise RuntimeError("encoder closed")

    with pytest.raises(RuntimeError):
        memo.get("k", broken)
    assert float(memo.get("k", lambda: vector(1.0))[0]) == 1.0


def test_oldest_entries_are_dropped() -> None:
    memo = EmbeddingMemo(size=2)
    for key in ("a", "b", "c"):
        memo.get(key, lambda: vector(1.0))
    memo.get("a", lambda: vector(2.0))  # recomputed: "a" was the oldest
    assert (memo.hits, memo.misses) == (0, 4)


def test_an_embedder_with_a_memo_returns_what_one_without_returns() -> None:
    memo = EmbeddingMemo()
    shared = MiniLMEmbedder(batch_threads=1, memo=memo)
    plain = MiniLMEmbedder(batch_threads=1)
    for text in ("when is yoga", "when is yoga", "book me in"):
        assert np.array_equal(shared.embed([text]), plain.embed([text]))
    assert (memo.hits, memo.misses) == (1, 2)
    batch = ["when is yoga", "book me in"]
    assert np.array_equal(shared.embed(batch), plain.embed(batch))  # batches bypass it
    assert (memo.hits, memo.misses) == (1, 2)


def test_put_keeps_a_by_product_without_replacing_what_is_known() -> None:
    memo = EmbeddingMemo(size=2)
    memo.put("a", vector(1.0))
    memo.put("a", vector(2.0))
    assert memo.get("a", lambda: vector(3.0))[0] == 1.0
    assert (memo.hits, memo.misses) == (1, 0)
    with pytest.raises(ValueError):
        memo.get("a", lambda: vector(0.0))[0] = 5.0  # read-only, as computed ones are
    memo.put("b", vector(1.0))
    memo.put("c", vector(1.0))  # the size still bounds it
    assert memo.get("a", lambda: vector(4.0))[0] == 4.0


def test_a_tuned_last_layer_reuses_the_first_five_layers_of_anothers_pass() -> None:
    memo = EmbeddingMemo()
    base = MiniLMEmbedder.base_last_layer()
    tuned_layer = dict(base, f2=base["f2"] * 0.8)
    detector = MiniLMEmbedder(batch_threads=1, memo=memo)
    classifier = MiniLMEmbedder(batch_threads=1, memo=memo, last_layer=tuned_layer)
    alone = MiniLMEmbedder(batch_threads=1, last_layer=tuned_layer)
    text = "my card still has not arrived"
    detector.embed([text])
    misses = memo.misses
    got = classifier.embed([text])
    # one miss for the tuned vector itself; the layer-5 states were found, not recomputed
    assert memo.misses == misses + 1 and memo.hits >= 1
    np.testing.assert_allclose(got, alone.embed([text]), atol=1e-6)
    # when it runs first (the detector skipped its encoder), it computes what it needs
    other = "what is the exchange rate"
    np.testing.assert_allclose(classifier.embed([other]), alone.embed([other]), atol=1e-6)
    np.testing.assert_array_equal(detector.embed([other]), MiniLMEmbedder().embed([other]))
    # and one message embedded alone matches the same message in a training batch
    batch = alone.embed([text, other, "hi"])
    np.testing.assert_allclose(batch[0], got[0], atol=1e-4)
