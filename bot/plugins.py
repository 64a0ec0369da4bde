"""Bot plugins: the Python a bot definition brings along, found beside its YAML file.

`plugin:` in a bot.yaml names a module or package in the YAML file's folder
(`plugin: studio.plugin` is bots/studio/studio/plugin.py). Loading it puts that folder
first on `sys.path`, so the plugin's own modules import each other by their package
name, as any user's bot would. A plugin module may provide, all optional:
`handlers(db, settings) -> dict[str, Responder]` (direct handlers by name),
`tools(registry)` (agent tools), `async prepare(db, definition, settings)` (a start-up
step) and `commands(subparsers, settings_factory)` (`bot` sub-commands). The platform
never imports a bot's plugin by name; docs/bot-definition.md has the rules.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import yaml

from bot.agent.tools import ToolRegistry
from bot.db.pool import Database
from bot.definition import BotDefinition, load_definition
from bot.routing.responder import Responder
from bot.settings import Settings


class PluginError(RuntimeError):
    """A bot definition's plugin that cannot be found or imported."""


def load_plugin(definition: BotDefinition) -> ModuleType | None:
    """Import the definition's plugin from the definition's folder (None without one)."""
    if not definition.plugin:
        return None
    name, home = definition.plugin, definition.home
    where = f"{definition.source}: plugin {name!r}"
    if home is not None:
        folder = str(home.resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)
            importlib.invalidate_caches()
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise PluginError(f"{where} not found in {home}") from exc
        raise PluginError(f"{where} failed to import: {exc}") from exc
    except Exception as exc:  # whatever the plugin raised while importing
        raise PluginError(f"{where} failed to import: {exc!r}") from exc
    if home is not None and not _lives_in(module, home):
        # A module of that name was found first elsewhere (the standard library, an
        # installed package, another bot's plugin imported earlier in this process).
        raise PluginError(f"{where} resolves to {module.__file__}, outside {home}:"
                          " give the plugin a name of its own")
    return module


def _lives_in(module: ModuleType, home: Path) -> bool:
    places = [module.__file__] if module.__file__ else list(getattr(module, "__path__", []))
    return any(Path(p).resolve().is_relative_to(home.resolve()) for p in places)


def plugin_handlers(plugin: ModuleType | None, db: Database,
                    settings: Settings) -> dict[str, Responder]:
    factory = getattr(plugin, "handlers", None)
    return {} if factory is None else cast(dict[str, Responder], factory(db, settings))


def plugin_tools(plugin: ModuleType | None, registry: ToolRegistry) -> None:
    register: Any = getattr(plugin, "tools", None)
    if register is not None:
        register(registry)


async def prepare_plugin(plugin: ModuleType | None, db: Database, definition: BotDefinition,
                         settings: Settings) -> None:
    prepare: Any = getattr(plugin, "prepare", None)
    if prepare is not None:
        await prepare(db, definition, settings)


def plugin_commands(plugin: ModuleType | None, subparsers: Any,
                    settings: Callable[[], Settings]) -> None:
    """The plugin's own `bot` sub-commands; `settings` builds the settings when one runs."""
    add: Any = getattr(plugin, "commands", None)
    if add is not None:
        add(subparsers, settings)


def add_plugin_commands(subparsers: Any, settings: Callable[[], Settings]) -> None:
    """The configured bot definition's plugin commands (the example bot's `seed-demo`)."""
    try:
        plugin = load_plugin(load_definition(Settings().definition_path))
    except (PluginError, ValueError, OSError, yaml.YAMLError) as exc:
        # The platform's own commands still parse; the one run reports the configuration.
        print(f"warning: no commands of the bot definition: {exc}", file=sys.stderr)
        return
    plugin_commands(plugin, subparsers, settings)
