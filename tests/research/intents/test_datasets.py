from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from research.intents.datasets import (
    DatasetFormatError,
    load_clinc,
    load_csv,
    load_examples,
    sample_shots,
)


def test_load_csv_with_category_or_label_column(fixtures: Path) -> None:
    train = load_csv(fixtures / "tiny_intents.csv")
    assert len(train) == 20
    assert train.texts[0] == "I lost my card" and train.labels[0] == "lost_card"
    test = load_csv(fixtures / "tiny_test.csv")  # header uses "label"
    assert test.labels[-1] == "greeting"


def test_load_csv_without_label_column_fails(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,other\nhello,x\n")
    with pytest.raises(DatasetFormatError):
        load_csv(path)


def test_load_clinc_splits(fixtures: Path) -> None:
    path = fixtures / "tiny_clinc.json"
    train = load_clinc(path, "train")
    assert len(train) == 15 + 4
    assert Counter(train.labels)["oos"] == 4
    test = load_examples(path, "test")
    assert len(test) == 8 and test.labels[-1] == "oos"
    assert "oos" not in load_clinc(path, "val", include_oos=False).labels
    with pytest.raises(ValueError):
        load_clinc(path, "dev")


def test_sample_shots_takes_k_per_label_reproducibly(fixtures: Path) -> None:
    data = load_csv(fixtures / "tiny_intents.csv")
    a = sample_shots(data.texts, data.labels, 2, seed=1)
    assert Counter(a.labels) == {"lost_card": 2, "balance": 2, "transfer": 2, "greeting": 2}
    assert a == sample_shots(data.texts, data.labels, 2, seed=1)
    seeds = {tuple(sample_shots(data.texts, data.labels, 2, seed=s).texts) for s in range(5)}
    assert len(seeds) > 1
    everything = sample_shots(data.texts, data.labels, 50, seed=0)
    assert everything.texts == data.texts
    with pytest.raises(ValueError):
        sample_shots(data.texts, data.labels, 0, seed=0)
