"""`bot new`: the scaffold passes `bot check` and, started as it says, answers its example
intent without an LLM key, its plugin imported from the bot's folder (no PYTHONPATH)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.app import create_app
from bot.cli import main
from bot.settings import Settings
from tests.conftest import RuntimeFactory


def scaffold_and_check(parent: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """`bot new`, then `bot check` on what it printed; the definition's path."""
    # a name of its own: a plugin's module name is process-wide, and tests share a process
    name = f"Corner Bakery {secrets.token_hex(3)}"
    assert main(["new", name, "--dir", str(parent)]) == 0
    printed = capsys.readouterr().out
    command = next(line for line in printed.splitlines() if line.startswith("run it with:"))
    definition = Path(command.split("BOT_DEFINITION=", 1)[1].split()[0])
    assert command.endswith("bot serve") and definition.is_file()
    assert main(["check", str(definition), "--fast"]) == 0
    assert "ok" in capsys.readouterr().out
    plugin = next(p for p in definition.parent.iterdir() if (p / "plugin.py").is_file())
    assert plugin.name.startswith("corner_bakery_")
    return definition


async def test_a_new_bot_checks_clean_and_answers_as_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], runtime_factory: RuntimeFactory,
    make_settings: Callable[..., Settings],
) -> None:
    definition = scaffold_and_check(tmp_path / "bots", capsys)
    settings = make_settings(bot_definition=definition, prepare_bot_on_start=True)
    async with runtime_factory(settings=settings) as rt:
        app = create_app(rt.settings, runtime=rt)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test", timeout=30) as client:
            answer = (await client.post("/api/chat", json={"text": "when do you open"})).json()
    assert answer["status"] == "answered"
    assert answer["reply"]["text"].startswith("Our opening hours: Monday 8:00-18:00")
