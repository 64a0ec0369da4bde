"""The tool registry: schemas the model sees, identity kept out of arguments, keys."""

from __future__ import annotations

from uuid import UUID

import pytest
from pydantic import BaseModel

from bot.agent.tools import ToolContext, ToolRegistry, canonical_arguments, idempotency_key
from tests.agent.tools_for_tests import CityInput


class ForUser(BaseModel):
    """Trying to let the model pick whose data to read."""

    contact_id: UUID


def test_schema_of_the_input_model_is_what_the_model_sees() -> None:
    registry = ToolRegistry()

    @registry.tool(side_effects=False, title="the weather service")
    async def weather(args: CityInput, ctx: ToolContext) -> str:
        """Current weather in a city."""
        return "sunny"

    spec = registry.get("weather")
    assert spec is not None and spec.title == "the weather service"
    assert spec.spec().description == "Current weather in a city."
    assert spec.spec().input_schema["properties"]["city"]["minLength"] == 2
    assert [t.name for t in registry.visible(("weather", "missing"))] == ["weather"]
    assert registry.visible(()) == []


def test_the_acting_user_cannot_be_a_tool_argument() -> None:
    registry = ToolRegistry()
    with pytest.raises(TypeError, match="contact_id"):
        @registry.tool(side_effects=False)
        async def lookup(args: ForUser, ctx: ToolContext) -> str:
            return ""


def test_tools_must_be_async_and_uniquely_named() -> None:
    registry = ToolRegistry()

    async def city(args: CityInput, ctx: ToolContext) -> str:
        return ""
    registry.tool(side_effects=False)(city)
    with pytest.raises(ValueError, match="already registered"):
        registry.tool(side_effects=False)(city)
    with pytest.raises(TypeError, match="async"):
        registry.tool(side_effects=False, name="sync")(lambda a, c: "")  # type: ignore[arg-type,return-value]


def test_idempotency_key_depends_on_message_tool_and_canonical_arguments() -> None:
    key = idempotency_key(7, "place_order", {"item": "lamp", "quantity": 2})
    assert key == idempotency_key(7, "place_order", {"quantity": 2, "item": "lamp"})
    assert key != idempotency_key(8, "place_order", {"item": "lamp", "quantity": 2})
    assert key != idempotency_key(7, "place_order", {"item": "lamp", "quantity": 3})
    assert canonical_arguments(None) == "{}"
