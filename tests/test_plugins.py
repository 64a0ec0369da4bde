"""A bot's plugin is found beside its bot.yaml, as any user's bot would ship one."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from bot.cli import main
from bot.definition import load_definition
from bot.plugins import PluginError, load_plugin, plugin_commands, plugin_handlers
from testing import FIXTURE_BOT
from tests.conftest import EXAMPLE_BOT, ROOT

PLUGIN = '''
from collections.abc import Callable
from typing import Any

from {package}.replies import GREETING


def handlers(db: Any, settings: Any) -> dict[str, Any]:
    return {{"greet": GREETING}}


def commands(subparsers: Any, settings: Callable[[], Any]) -> None:
    subparsers.add_parser("wave").set_defaults(func=lambda args: 7)
'''


@pytest.fixture
def bot_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A bot folder with a plugin package of a name unique to the test; sys.path and
    sys.modules are as before afterwards."""
    package = "greeter_" + uuid4().hex[:8]
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "replies.py").write_text('GREETING = "hello from the plugin"\n')
    (tmp_path / package / "plugin.py").write_text(PLUGIN.format(package=package))
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path, package
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def write_definition(folder: Path, plugin: str, **extra: str) -> Path:
    path = folder / "bot.yaml"
    lines = [f"name: Greeter\nplugin: {plugin}\n", *(f"{k}: {v}\n" for k, v in extra.items())]
    path.write_text("".join(lines))
    return path


def test_a_plugin_beside_its_definition_is_loaded_with_its_own_modules(
    bot_folder: tuple[Path, str],
) -> None:
    folder, package = bot_folder
    definition = load_definition(write_definition(folder, f"{package}.plugin"))
    plugin = load_plugin(definition)
    assert plugin is not None and plugin.__file__ == str(folder / package / "plugin.py")
    assert plugin_handlers(plugin, None, None) == {"greet": "hello from the plugin"}  # type: ignore[arg-type]
    parser = argparse.ArgumentParser()
    plugin_commands(plugin, parser.add_subparsers(), lambda: None)  # type: ignore[arg-type,return-value]
    assert parser.parse_args(["wave"]).func(None) == 7


def test_relative_folders_of_a_definition_are_its_own(bot_folder: tuple[Path, str]) -> None:
    folder, package = bot_folder
    definition = load_definition(write_definition(folder, f"{package}.plugin",
                                                  migrations="sql", knowledge_dir="kb"))
    assert definition.home == folder
    assert (definition.migrations, definition.knowledge_dir) == (str(folder / "sql"),
                                                                 str(folder / "kb"))


def test_a_missing_plugin_names_the_definition_file(bot_folder: tuple[Path, str]) -> None:
    folder, package = bot_folder
    path = write_definition(folder, f"{package}.nothing_here")
    with pytest.raises(PluginError, match=rf"{path}: plugin '{package}.nothing_here' not found"):
        load_plugin(load_definition(path))


def test_a_plugin_failing_to_import_names_the_definition_file(
    bot_folder: tuple[Path, str],
) -> None:
    folder, package = bot_folder
    (folder / package / "broken.py").write_text("import a_dependency_nobody_installed\n")
    path = write_definition(folder, f"{package}.broken")
    with pytest.raises(PluginError, match=rf"{path}: plugin '{package}.broken' failed to import:"
                                          r" No module named 'a_dependency_nobody_installed'"):
        load_plugin(load_definition(path))


def test_a_plugin_name_found_outside_the_bot_folder_is_refused(
    bot_folder: tuple[Path, str],
) -> None:
    folder, _ = bot_folder
    (folder / "json.py").write_text("")  # shadowed: the standard library's is already imported
    path = write_definition(folder, "json")
    with pytest.raises(PluginError, match=rf"{path}: plugin 'json' resolves to .*, outside"):
        load_plugin(load_definition(path))


def test_the_example_bot_plugin_is_its_folders_studio_package() -> None:
    plugin = load_plugin(load_definition(EXAMPLE_BOT))
    assert plugin is not None and plugin.__name__ == "studio.plugin"
    assert Path(str(plugin.__file__)) == ROOT / "bots/studio/studio/plugin.py"


def test_commands_come_from_the_configured_definitions_plugin(
    bot_folder: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, package = bot_folder
    monkeypatch.setenv("BOT_DEFINITION", str(write_definition(folder, f"{package}.plugin")))
    assert main(["wave"]) == 7
    monkeypatch.setenv("BOT_DEFINITION", str(FIXTURE_BOT))
    with pytest.raises(SystemExit):
        main(["seed-demo"])  # the example bot's command, not this bot's
    assert "invalid choice: 'seed-demo'" in capsys.readouterr().err


def test_a_broken_plugin_leaves_the_platforms_commands(
    bot_folder: tuple[Path, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, package = bot_folder
    path = write_definition(folder, f"{package}.absent")
    monkeypatch.setenv("BOT_DEFINITION", str(path))
    with pytest.raises(SystemExit) as exited:
        main(["kb", "--help"])
    assert exited.value.code == 0
    assert f"warning: no commands of the bot definition: {path}" in capsys.readouterr().err


def test_the_platform_serves_a_bot_without_importing_the_example_plugin(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from bot.cli import build_parser\n"
            "from bot.app import create_app\n"
            "from bot.settings import Settings\n"
            "build_parser()\n"
            "create_app(Settings())\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'studio'], 'studio'\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "SLACK_", "OPENAI_", "ANTHROPIC_", "LLM_"))}
    env.update(PYTHONPATH=str(ROOT), BOT_DEFINITION=str(FIXTURE_BOT),
               DATA_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
