"""The parts of the turn a bot definition decides: its classifier, its routes and tools.

Built once per process from the definition (and its plugin), with the agent when an LLM
provider is configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import ModuleType

from bot.agent.budget import AgentBudget
from bot.agent.builtin_tools import register_escalation_tool, register_memory_tools
from bot.agent.intent import AgentIntentLLM
from bot.agent.service import AgentServices
from bot.agent.tools import ToolContext, ToolRegistry
from bot.db.classifications import previous_intent
from bot.db.pool import Database
from bot.definition import AgentRoute, BotDefinition, IntentSpec
from bot.handoff.service import HandoffService
from bot.hooks import EventHooks
from bot.intents.classifier import IntentClassifier
from bot.intents.contract import Classifier
from bot.intents.embedding_memo import EmbeddingMemo
from bot.intents.hybrid import HybridClassifier
from bot.knowledge.tool import register_knowledge_tool
from bot.plugins import plugin_handlers, plugin_tools
from bot.routing.handlers import builtin_handlers
from bot.routing.responder import Responder, TurnContext
from bot.routing.router import Router, build_router
from bot.settings import Settings

HandOver = Callable[[ToolContext, str], Awaitable[None]]


def with_settings(definition: BotDefinition, settings: Settings) -> BotDefinition:
    """The definition with what the settings override: BOT_NAME and BOT_PERSONA, only when
    they are set (the definition is the bot's own; the settings are the deployment's)."""
    update: dict[str, str] = {}
    if "bot_name" in settings.model_fields_set:
        update["name"] = settings.bot_name
    if "bot_persona" in settings.model_fields_set:
        update["persona"] = settings.bot_persona
    return definition.model_copy(update=update) if update else definition


def bot_tools(definition: BotDefinition, plugin: ModuleType | None, settings: Settings,
              hand_over: HandOver) -> ToolRegistry:
    """The tools a bot offers its agent: memory, the handoff, the knowledge base when it
    has one, and its plugin's (`bot check` lists them without a database)."""
    registry = ToolRegistry()
    register_memory_tools(registry)
    register_escalation_tool(registry, hook=hand_over)
    if definition.knowledge_dir:
        register_knowledge_tool(registry, results=settings.kb_search_results)
    plugin_tools(plugin, registry)
    return registry


class TurnParts:
    """Builds the classifier, router and tools of one process."""

    def __init__(self, *, settings: Settings, definition: BotDefinition,
                 plugin: ModuleType | None, db: Database, handoffs: HandoffService,
                 hooks: EventHooks, memo: EmbeddingMemo, classifier: Classifier | None = None,
                 router: Router | None = None) -> None:
        self.settings = settings
        self.definition = definition
        self.plugin = plugin
        self.db = db
        self.handoffs = handoffs
        self.hooks = hooks
        self.memo = memo
        self._given_classifier = classifier
        self._given_router = router
        self._built: HybridClassifier | None = None

    async def classifier(self, agent: AgentServices | None) -> Classifier:
        """The hybrid classifier over a local model trained on the definition's examples,
        with the agent's provider as its LLM fallback when there is an agent."""
        if self._given_classifier is not None:
            return self._given_classifier
        texts, labels = self.definition.training_data()
        local = await asyncio.to_thread(IntentClassifier.train, texts, labels,
                                        cache_dir=self.settings.models_dir, memo=self.memo)
        llm = (AgentIntentLLM(agent, bot_name=self.definition.name)
               if agent is not None else None)
        self._built = HybridClassifier(self.definition, local, llm=llm)
        return self._built

    def router(self, agent: AgentServices | None) -> Router:
        if self._given_router is not None:
            return self._given_router
        handlers = {
            **builtin_handlers(self.definition, self.db, self.handoffs, self.hooks),
            **plugin_handlers(self.plugin, self.db, self.settings)}
        if agent is None:
            return build_router(self.definition, handlers, agent=None)

        def agent_route(intent: IntentSpec, route: AgentRoute) -> Responder:
            return agent.responder(AgentBudget(
                tier=route.tier, tools=tuple(route.tools) or None,
                max_iterations=route.max_iterations, max_tokens=route.max_tokens,
                confirm=tuple(route.confirm)))

        db = self.db

        async def previous(turn: TurnContext, skip: frozenset[str]) -> str | None:
            async with db.as_user(turn.contact_id) as conn:
                return await previous_intent(conn, turn.session.id, skip=tuple(skip))
        return build_router(self.definition, handlers, agent=agent_route, previous=previous)

    def tools(self) -> ToolRegistry:
        """Built-in tools (memory, the handoff, knowledge) plus the bot plugin's tools."""
        handoffs = self.handoffs

        async def hand_over(ctx: ToolContext, reason: str) -> None:
            async with ctx.unit_of_work() as conn:
                await handoffs.start(conn, contact_id=ctx.contact_id,
                                     conversation_id=ctx.conversation_id,
                                     session_id=ctx.session_id, trigger="agent", reason=reason,
                                     intent=None, history=[])
        return bot_tools(self.definition, self.plugin, self.settings, hand_over)

    def close(self) -> None:
        """Frees the intent model's encoder."""
        if self._built is not None:
            self._built.close()
