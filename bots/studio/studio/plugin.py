"""The example studio bot's plugin: offline handlers, agent tools, commands, start-up.

Named by `plugin: studio.plugin` in bots/studio/bot.yaml, loaded by the platform's
bot/plugins.py as any bot's plugin is (docs/bot-definition.md, "Plugin").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from bot.agent.tools import ToolRegistry
from bot.db.pool import Database
from bot.definition import BotDefinition
from bot.routing.responder import Responder
from bot.settings import Settings
from studio.cli import add_commands
from studio.flow import StudioFlow
from studio.responders import studio_handlers
from studio.startup import prepare_demo
from studio.tools import register_studio_tools

log = structlog.get_logger(__name__)


def tools(registry: ToolRegistry) -> None:
    register_studio_tools(registry)


def commands(subparsers: Any, settings: Callable[[], Settings]) -> None:
    add_commands(subparsers, settings)


def handlers(db: Database, settings: Settings) -> dict[str, Responder]:
    flow = StudioFlow(db, kb_min_confidence=settings.kb_answer_min_confidence,
                      kb_results=settings.kb_search_results)
    return studio_handlers(flow)


async def prepare(db: Database, definition: BotDefinition, settings: Settings) -> None:
    if not definition.knowledge_dir:
        return
    ready = await prepare_demo(db, Path(definition.knowledge_dir),
                               max_chars=settings.kb_chunk_max_chars)
    log.info("studio_ready", seeded=ready.seeded is not None,
             knowledge=ready.knowledge.model_dump())
