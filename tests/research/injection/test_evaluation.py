"""The ``bot eval injection`` command and its data loaders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from research.injection.evaluation import load_benign, main

FIXTURES = Path(__file__).parent / "fixtures"


def test_load_benign_reads_held_out_clinc_lists() -> None:
    samples = load_benign(FIXTURES / "clinc_mini.json")
    texts = {s.text for s in samples}
    assert texts == {
        "how much is in my checking account",
        "set an alarm for 7am",
        "what is the speed of light",
    }
    assert all(s.label == 0 for s in samples)
    csv_samples = load_benign(FIXTURES / "benign.csv")
    assert [s.text for s in csv_samples] == [
        "Where is my refund?",
        "Can I change my PIN at an ATM?",
    ]


def test_eval_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "--data", str(FIXTURES / "labelled.csv"),
            "--benign", str(FIXTURES / "benign.csv"),
            "--benign", str(FIXTURES / "clinc_mini.json"),
            "--json",
        ]
    )  # fmt: skip
    assert rc == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    for key in ("recall", "precision", "fpr", "p50_ms", "p99_ms", "encoder_skipped"):
        assert key in result
    assert result["n"] == 6 + 2 + 3
    assert result["n_injection"] == 3
    assert result["recall"] == 1.0
    assert result["fpr"] == 0.0


def test_eval_rejects_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    assert main(["--data", str(bad)]) == 2
