"""The hybrid classifier's LLM fallback, on the agent's own provider and caller.

When the local model is unsure, one fast-tier call picks an intent. The model must
answer through the tool `choose_intent`, whose only argument is an enum of the
intent names, so the answer is one of them or nothing. The call goes through the
agent's `LLMCaller` (its retries, metrics and `app.llm_calls` rows, purpose
"intent") and respects the same cost caps as answers; no second client is built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog

from bot.agent.costs import check_caps
from bot.agent.llm import CallScope
from bot.agent.messages import LLMRequest, Message, ToolSpec
from bot.intents.contract import TurnScope

if TYPE_CHECKING:
    from bot.agent.service import AgentServices

log = structlog.get_logger(__name__)

INTENT_TOOL = "choose_intent"
SYSTEM = (
    "You sort the messages customers send to {bot} into intents. Read the customer's "
    "message and call {tool} with the one intent that fits it best; use out_of_scope when "
    "none of them fits. Never answer the customer.\n\nIntents:\n{intents}"
)


def intent_tool(names: Sequence[str]) -> ToolSpec:
    """The tool the model must call: one argument, constrained to the intent names."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"intent": {"type": "string", "enum": list(names),
                                  "description": "The name of the intent"}},
        "required": ["intent"],
        "additionalProperties": False,
    }
    return ToolSpec(name=INTENT_TOOL, description="Record the intent of the customer's message.",
                    input_schema=schema)


class AgentIntentLLM:
    """`bot.intents.hybrid.IntentLLM` on the agent's provider (fast tier)."""

    def __init__(self, services: AgentServices, *, bot_name: str) -> None:
        self.services = services
        self.bot_name = bot_name

    async def choose_intent(self, text: str, options: Sequence[tuple[str, str]], *,
                            scope: TurnScope | None = None) -> str | None:
        """The model's intent name, or None when it gave none or may not be asked."""
        if scope is None:  # a call nobody's turn can be charged for is not made
            return None
        s = self.services
        caps = await check_caps(s.db, scope.contact_id,
                                daily_cost_cap_usd=s.settings.llm_daily_cost_cap_usd,
                                user_daily_token_budget=s.settings.llm_user_daily_token_budget,
                                spend=s.spend)
        if not caps.allowed:
            log.info("intent_llm_skipped", reason=caps.scope)
            return None
        names = [name for name, _ in options]
        listing = "\n".join(f"- {name}: {about}" for name, about in options)
        request = LLMRequest(
            model=s.caller.provider.model_for("fast"),
            system=SYSTEM.format(bot=self.bot_name, tool=INTENT_TOOL, intents=listing),
            messages=[Message.user(text)], tools=[intent_tool(names)], force_tool=INTENT_TOOL,
            max_tokens=s.settings.intent_llm_max_tokens)
        call_scope = CallScope(scope.contact_id, scope.conversation_id, scope.session_id,
                               scope.message_id, purpose="intent")
        async with asyncio.timeout(s.settings.intent_llm_timeout_s):
            response = await s.caller.call(request, call_scope)
        for call in response.tool_calls:
            chosen = (call.arguments or {}).get("intent")
            if call.name == INTENT_TOOL and chosen in names:
                return str(chosen)
        # Some OpenAI-compatible servers ignore tool_choice and answer in text.
        plain = response.text.strip()
        return plain if plain in names else None
