"""The compact encoder graphs are built once into a model directory, then loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from bot.intents import IntentClassifier
from bot.intents.embedding import MiniLMEmbedder
from bot.intents.encoder_files import GraphSpec, compact_graph, read_export
from bot.intents.encoder_graph import build_encoder_graph

TEXTS = ["How do I locate my card?", "hi", "what's the exchange rate"]


def test_a_graph_is_built_once_and_loaded_as_a_file(tmp_path: Path) -> None:
    first = MiniLMEmbedder(batch_threads=1, model_dir=tmp_path)
    (path,) = tmp_path.glob("*.onnx")
    built_at = path.stat().st_mtime_ns
    again = MiniLMEmbedder(batch_threads=1, model_dir=tmp_path)
    assert path.stat().st_mtime_ns == built_at
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    want = first.embed(TEXTS)
    np.testing.assert_array_equal(again.embed(TEXTS), want)
    # the same graph as one built in memory
    spec = GraphSpec(hidden_layers=(5,))
    assert path.read_bytes() == build_encoder_graph(read_export(), hidden_layers=(5,))
    assert compact_graph(spec, tmp_path) == str(path)


def test_each_graph_has_its_own_file(tmp_path: Path) -> None:
    names = {GraphSpec().file_name(), GraphSpec(hidden_layers=(5,)).file_name(),
             GraphSpec(layers=5).file_name()}
    assert len(names) == 3 and all(n.endswith(".onnx") for n in names)
    assert GraphSpec(layers=5).file_name() == GraphSpec(layers=5).file_name()


def test_a_damaged_file_is_built_again(tmp_path: Path) -> None:
    want = MiniLMEmbedder(batch_threads=1, model_dir=tmp_path).embed(TEXTS)
    (path,) = tmp_path.glob("*.onnx")
    path.write_bytes(b"not a model")
    np.testing.assert_array_equal(
        MiniLMEmbedder(batch_threads=1, model_dir=tmp_path).embed(TEXTS), want)
    assert path.stat().st_size > 1_000_000


def test_a_directory_that_cannot_be_written_builds_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    spec = GraphSpec(layers=5)
    graph = compact_graph(spec, blocker / "models")
    assert isinstance(graph, bytes) and graph[:1]
    want = MiniLMEmbedder(batch_threads=1, model_dir=tmp_path).embed(TEXTS)
    got = MiniLMEmbedder(batch_threads=1, model_dir=blocker / "models").embed(TEXTS)
    np.testing.assert_array_equal(got, want)


def test_a_cached_classifier_starts_without_building_a_graph(tmp_path: Path) -> None:
    texts = ["where is my card", "my card has not arrived", "what is my balance",
             "how much money do I have", "hello there", "hi"]
    labels = ["card", "card", "balance", "balance", "greeting", "greeting"]
    trained = IntentClassifier.train(texts, labels, cache_dir=tmp_path)
    assert trained._tuned is not None  # few-shot: the last layer is tuned, its graph saved
    want = trained.predict("has my card been sent", k=1)[0]
    # A new process: the classifier and its encoder come from files; the builder (and
    # the onnx package it needs) is never imported.
    script = f"""
import sys
from bot.intents import IntentClassifier
clf = IntentClassifier.train({texts!r}, {labels!r}, cache_dir={str(tmp_path)!r})
best = clf.predict("has my card been sent", k=1)[0]
print(clf.loaded_from_cache, "onnx" in sys.modules, best.label, repr(best.confidence))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == ["True", "False", want.label, repr(want.confidence)]
