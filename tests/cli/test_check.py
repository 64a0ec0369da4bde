"""`bot check`: every problem of a definition named with its place, exit 1 on errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.check import check_definition
from bot.settings import Settings
from tests.conftest import EXAMPLE_BOT

BROKEN = """\
name: Broken Shop
persona: You help the customers of a shop.
intents:
  - name: opening_hours
    route: {type: direct, handler: faq}
    examples: [when do you open, opening hours, are you open on sunday, hours today,
               what time do you close, open on holidays, how late are you open, times]
  - name: prices
    route: {type: agent, tools: [price_list], offline_handler: greeting}
    examples: [how much is it]
menu:
  - {title: Shop, payload: "intent:shop"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_handler_missing_tool_and_a_one_example_intent_are_all_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path, BROKEN)
    assert main(["check", str(path), "--fast"]) == 1
    err = capsys.readouterr().err
    assert f"{path}: intents.opening_hours.route.handler: error: unknown handler 'faq'" in err
    assert f"{path}: intents.prices.route.tools: error: unknown tool 'price_list'" in err
    assert (f"{path}: intents.prices.examples: error: 1 example(s): the classifier needs "
            "at least 3") in err
    assert f"{path}: menu.0.payload: error: unknown intent 'shop'" in err
    assert "4 error(s)" in err


def test_the_example_bot_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE_BOT)]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok")


@pytest.mark.parametrize(("text", "where", "what"), [
    ("name: [unclosed", ":1", "not valid YAML"),
    ("intents:\n  - name: Bad Name\n    route: {type: direct, handler: help}\n",
     ": intents.0.name", "String should match pattern"),
    ("knowledge_dir: nowhere\n", ": knowledge_dir", "no folder"),
    ("plugin: no_such_plugin_here\n", ": plugin", "not found"),
    ("intents:\n  - name: a\n    route: {type: direct, handler: help}\n"
     "    examples: [hi there, yo, hello again]\n"
     "  - name: b\n    route: {type: direct, handler: help}\n"
     "    examples: [Hi  there, hey you, howdy]\n", ": intents.b.examples",
     "'Hi  there' is also an example of 'a'"),
])
def test_each_kind_of_problem_has_its_place(
    tmp_path: Path, make_settings: Callable[..., Settings], text: str, where: str, what: str,
) -> None:
    path = write(tmp_path, text)
    problems = check_definition(path, make_settings(), near_duplicates=False)
    assert any(p.where == f"{path}{where}" and what in p.what and p.level == "error"
               for p in problems), [str(p) for p in problems]


def test_examples_of_two_intents_that_read_alike_are_a_warning(
    tmp_path: Path, make_settings: Callable[..., Settings],
) -> None:
    path = write(tmp_path, "name: Shop\npersona: You help.\nintents:\n"
                 "  - name: hours\n    route: {type: direct, handler: help}\n"
                 "    examples: [when are you open, opening hours, what time do you open]\n"
                 "  - name: visit\n    route: {type: direct, handler: help}\n"
                 "    examples: ['what time do you open?', where are you, how do I get there]\n")
    problems = check_definition(path, make_settings())
    similar = [p for p in problems if "reads like" in p.what]
    assert similar and all(p.level == "warning" for p in similar), [str(p) for p in problems]


def test_serve_stops_on_the_same_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write(tmp_path, BROKEN)
    monkeypatch.setenv("BOT_DEFINITION", str(path))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "unknown handler 'faq'" in err and "4 error(s)" in err
