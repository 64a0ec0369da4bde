from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from research.intents.evaluation import main
from research.intents.metrics import macro_f1


def _last_json(out: str) -> dict[str, object]:
    result = json.loads(out.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


def test_eval_on_tiny_csv(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--train",
            str(fixtures / "tiny_intents.csv"),
            "--test",
            str(fixtures / "tiny_test.csv"),
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0
    result = _last_json(out.out)
    for key in ("accuracy", "macro_f1", "p50_ms", "p99_ms", "train_seconds"):
        assert isinstance(result[key], float)
    assert result["accuracy"] == 1.0
    assert "oos_recall" not in result
    assert "accuracy" in out.out.splitlines()[4]  # human report before the JSON line
    assert "classifying" in out.err  # progress goes to stderr


def test_eval_on_tiny_clinc_json(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(fixtures / "tiny_clinc.json")
    code = main(["--train", path, "--test", path, "--json", "--threshold", "0.4"])
    assert code == 0
    result = _last_json(capsys.readouterr().out)
    assert result["n_train"] == 19 and result["n_test"] == 8
    assert result["threshold"] == 0.4
    for key in ("accuracy", "macro_f1", "oos_recall", "in_scope_accuracy"):
        value = result[key]
        assert isinstance(value, float) and 0.0 <= value <= 1.0, key
    assert isinstance(result["p50_ms"], float) and isinstance(result["p99_ms"], float)
    assert result["p99_ms"] >= result["p50_ms"] > 0.0


def test_eval_with_shots_and_plot(
    fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "cm.png"
    code = main(
        [
            "--train",
            str(fixtures / "tiny_intents.csv"),
            "--test",
            str(fixtures / "tiny_test.csv"),
            "--shots",
            "3",
            "--json",
            "--plot",
            str(png),
        ]
    )
    out = capsys.readouterr()
    assert code == 0
    assert _last_json(out.out)["n_train"] == 12
    if importlib.util.find_spec("matplotlib") is None:
        assert "needs matplotlib" in out.err and not png.exists()
    else:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_reports_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    assert main(["--train", str(bad), "--test", str(bad)]) == 1
    assert "error" in capsys.readouterr().err


def test_macro_f1() -> None:
    assert macro_f1(["a", "a", "b"], ["a", "a", "b"]) == 1.0
    # a: P=1/2 R=1 -> 2/3; b: 0 -> mean 1/3
    assert macro_f1(["a", "b"], ["a", "a"]) == pytest.approx(1 / 3)
