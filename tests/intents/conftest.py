from __future__ import annotations

from pathlib import Path

import pytest

from research.intents.datasets import LabelledTexts, load_csv

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def tiny_train() -> LabelledTexts:
    return load_csv(FIXTURES / "tiny_intents.csv")


@pytest.fixture
def tiny_test() -> LabelledTexts:
    return load_csv(FIXTURES / "tiny_test.csv")
