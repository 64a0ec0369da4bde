"""Tools the agent tests register: a lookup, a flaky backend, a counted side effect."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.agent.builtin_tools import default_registry
from bot.agent.tools import ToolContext, ToolRegistry


class CityInput(BaseModel):
    """A city to look up."""

    city: str = Field(min_length=2)


class OrderInput(BaseModel):
    """What to order."""

    item: str
    quantity: int = Field(ge=1, le=10)


class TestTools:
    """A registry with the built-ins plus tools whose calls the tests count."""

    __test__ = False

    def __init__(self) -> None:
        self.registry: ToolRegistry = default_registry()
        self.weather_calls: list[str] = []
        self.orders: list[tuple[str, int, str | None]] = []
        self.fail_backend = True
        self.backend_calls = 0
        tools = self

        @self.registry.tool(side_effects=False, title="the weather service")
        async def weather(args: CityInput, ctx: ToolContext) -> dict[str, str]:
            """Current weather in a city."""
            tools.weather_calls.append(args.city)
            return {"city": args.city, "sky": "sunny"}

        @self.registry.tool(side_effects=False, title="the stock system")
        async def stock(args: CityInput, ctx: ToolContext) -> str:
            """Stock levels of the store in a city."""
            tools.backend_calls += 1
            if tools.fail_backend:
                raise RuntimeError("backend down: password=hunter2 at 10.0.0.1")
            return "12 in stock"

        @self.registry.tool(side_effects=True, title="the order system")
        async def place_order(args: OrderInput, ctx: ToolContext) -> str:
            """Place an order for the user."""
            tools.orders.append((args.item, args.quantity, ctx.idempotency_key))
            async with ctx.unit_of_work() as conn:
                await conn.execute(
                    "INSERT INTO app.user_context (contact_id, key, value, kind) VALUES"
                    " (%s, 'last_order', to_jsonb(%s::text), 'state') ON CONFLICT (contact_id,"
                    " key) DO UPDATE SET value = excluded.value", (ctx.contact_id, args.item))
            return f"Order placed: {args.quantity} x {args.item}"
