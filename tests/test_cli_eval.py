"""`bot eval injection|intents` hand the rest of the command line to the evaluations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bot.cli import main

TESTS = Path(__file__).parent


def _last_json(out: str) -> dict[str, object]:
    result = json.loads(out.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


def test_eval_injection_through_the_bot_command(capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = TESTS / "research" / "injection" / "fixtures"
    code = main(["eval", "injection", "--data", str(fixtures / "labelled.csv"),
                 "--benign", str(fixtures / "benign.csv"), "--json"])
    assert code == 0
    result = _last_json(capsys.readouterr().out)
    assert result["n"] == 6 + 2 and result["n_injection"] == 3
    for key in ("recall", "precision", "fpr", "p50_ms"):
        assert isinstance(result[key], float)


def test_eval_injection_reports_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    assert main(["eval", "injection", "--data", str(bad)]) == 2


def test_eval_intents_through_the_bot_command(capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = TESTS / "intents" / "fixtures"
    code = main(["eval", "intents", "--train", str(fixtures / "tiny_intents.csv"),
                 "--test", str(fixtures / "tiny_test.csv"), "--backend", "tfidf", "--json"])
    assert code == 0
    result = _last_json(capsys.readouterr().out)
    assert result["accuracy"] == 1.0
    assert isinstance(result["p50_ms"], float)


def test_eval_needs_to_know_what_to_evaluate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "nonsense"])
    assert exc.value.code == 2
    assert "injection" in capsys.readouterr().err


def test_eval_outside_a_source_checkout_says_where_to_run_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An installed wheel has no research package: None in sys.modules makes it unimportable.
    for name in ("research", "research.intents", "research.intents.evaluation"):
        monkeypatch.setitem(sys.modules, name, None)
    assert main(["eval", "intents", "--help"]) == 2
    assert "source checkout" in capsys.readouterr().err
