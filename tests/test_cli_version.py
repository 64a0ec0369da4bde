"""`bot --version` names the installed release."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from bot.cli import main


def test_version_is_the_installed_release(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"bot {version('messaging-bot')}"
