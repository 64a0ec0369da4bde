"""The example studio bot's extension: its offline handlers and its start-up step.

Named by `plugin: bot.studio.plugin` in bots/studio/bot.yaml; see bot/plugins.py.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from bot.agent.tools import ToolRegistry
from bot.db.pool import Database
from bot.definition import BotDefinition
from bot.routing.responder import Responder
from bot.settings import Settings
from bot.studio.flow import StudioFlow
from bot.studio.responders import studio_handlers
from bot.studio.startup import prepare_demo
from bot.studio.tools import register_studio_tools

log = structlog.get_logger(__name__)


def tools(registry: ToolRegistry) -> None:
    register_studio_tools(registry)


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
