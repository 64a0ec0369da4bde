"""Bot plugins: a bot definition may name a module adding handlers and a start-up step.

A plugin module provides `handlers(db, settings) -> dict[str, Responder]`,
`tools(registry) -> None` (agent tools) and `async prepare(db, definition, settings)`
(all optional). The example bot's
is bot/studio/plugin.py.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, cast

from bot.agent.tools import ToolRegistry
from bot.db.pool import Database
from bot.definition import BotDefinition
from bot.routing.responder import Responder
from bot.settings import Settings


def load_plugin(definition: BotDefinition) -> ModuleType | None:
    if not definition.plugin:
        return None
    return importlib.import_module(definition.plugin)


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
