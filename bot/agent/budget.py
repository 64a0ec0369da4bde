"""What a route allows the agent to spend on one turn.

Routing builds an `AgentBudget` per route ("agent with budget: strong model, these
tools, at most 4 iterations"); fields left unset fall back to the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bot.settings.agent import AgentSettings

ModelTier = Literal["fast", "strong"]
T = TypeVar("T")


class AgentBudget(BaseModel):
    """A route's allowance for the agent: model tier, visible tools and limits.

    `tools=None` shows every registered tool; an empty list shows none. Limits left
    as None use the corresponding setting (AGENT_MAX_ITERATIONS, ...).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: ModelTier = "fast"
    tools: tuple[str, ...] | None = None
    max_iterations: int | None = Field(default=None, ge=1, le=50)
    max_tokens: int | None = Field(default=None, ge=16, le=64_000)
    max_tool_calls_per_iteration: int | None = Field(default=None, ge=0, le=50)
    tool_timeout_s: float | None = Field(default=None, gt=0)
    turn_deadline_s: float | None = Field(default=None, gt=0)
    #: side-effecting tools that run only after the person taps Yes (bot/agent/confirm.py)
    confirm: tuple[str, ...] = ()


def pick(value: T | None, default: T) -> T:
    return default if value is None else value


@dataclass(frozen=True)
class TurnLimits:
    """The limits one turn runs under: the budget resolved against the settings."""

    tier: ModelTier
    max_iterations: int
    max_tokens: int
    max_tool_calls_per_iteration: int
    tool_timeout_s: float
    turn_deadline_s: float
    session_tool_call_cap: int
    repeat_call_limit: int
    read_only_streak_limit: int


def resolve_limits(budget: AgentBudget, settings: AgentSettings) -> TurnLimits:
    """Budget values where given, settings otherwise."""
    return TurnLimits(
        tier=budget.tier,
        max_iterations=pick(budget.max_iterations, settings.agent_max_iterations),
        max_tokens=pick(budget.max_tokens, settings.llm_max_output_tokens),
        max_tool_calls_per_iteration=pick(budget.max_tool_calls_per_iteration,
                                          settings.agent_max_tool_calls_per_iteration),
        tool_timeout_s=pick(budget.tool_timeout_s, settings.agent_tool_timeout_s),
        turn_deadline_s=pick(budget.turn_deadline_s, settings.agent_turn_deadline_s),
        session_tool_call_cap=settings.agent_session_tool_call_cap,
        repeat_call_limit=settings.agent_repeat_call_limit,
        read_only_streak_limit=settings.agent_read_only_streak_limit,
    )
