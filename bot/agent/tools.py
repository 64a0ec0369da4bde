"""Typed tools: async functions with a pydantic input model and a typed context.

A `ToolRegistry` instance (never a global) collects tools through its decorator:

    registry = ToolRegistry()

    @registry.tool(side_effects=False, title="the order system")
    async def order_status(args: OrderQuery, ctx: ToolContext) -> OrderStatus:
        "Status of one of the user's orders."
        async with ctx.unit_of_work() as conn: ...

The input model's JSON schema is what the model sees. The acting user is
`ctx.contact_id`, taken from the turn, never from the model's arguments.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, get_type_hints
from uuid import UUID

from pydantic import BaseModel

from bot.agent.messages import ToolSpec
from bot.db.pool import Conn, Database
from bot.models import RichPart

# Who is acting is the context's business; an input field with one of these names
# would let the model choose the user.
IDENTITY_FIELDS = frozenset({"contact_id", "user_id", "conversation_id", "session_id"})
ToolOutput = str | BaseModel | Mapping[str, Any] | list[Any] | None
ToolFn = Callable[[Any, "ToolContext"], Awaitable[ToolOutput]]


class ToolError(Exception):
    """A tool's deliberate answer for the model ("no such order"); not a tool failure."""


class ToolTransientError(Exception):
    """A temporary failure of a tool's backend; read-only tools are retried on it."""


@dataclass
class TurnRecord:
    """What tools did during a turn that the responder needs to know about."""

    escalation_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    # Rich parts (a list of classes, plan cards) tools suggest showing with the answer,
    # by tool name: a later call of the same tool replaces its earlier suggestion.
    suggested: dict[str, list[RichPart]] = field(default_factory=dict)

    def suggest(self, tool: str, parts: list[RichPart]) -> None:
        """Show `parts` with the answer (the channel renders them natively)."""
        self.suggested.pop(tool, None)
        if parts:
            self.suggested[tool] = list(parts)

    def parts(self) -> list[RichPart]:
        """The suggested parts, the most recently suggested last."""
        return [part for parts in self.suggested.values() for part in parts]


@dataclass(frozen=True)
class ToolContext:
    """Who is acting and with what: given to every tool call by the agent, not the model.

    `unit_of_work()` is a transaction scoped by row-level security to the acting
    contact. For side-effecting tools it is the same transaction that records the
    call under `idempotency_key`, so a database effect and its record commit together.
    """

    contact_id: UUID
    conversation_id: UUID
    session_id: UUID
    message_id: int
    channel: str
    db: Database
    turn: TurnRecord
    clients: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    conn: Conn | None = None

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Conn]:
        if self.conn is not None:
            async with self.conn.transaction():  # a savepoint inside the recording transaction
                yield self.conn
            return
        async with self.db.as_user(self.contact_id) as conn:
            yield conn


@dataclass(frozen=True)
class Tool:
    """One registered tool."""

    name: str
    description: str
    title: str
    input_model: type[BaseModel]
    fn: ToolFn
    side_effects: bool

    def spec(self) -> ToolSpec:
        return self._spec

    @cached_property
    def _spec(self) -> ToolSpec:
        # pydantic builds the JSON schema anew on every call (~0.5 ms a tool, every turn)
        schema = self.input_model.model_json_schema()
        schema.pop("title", None)
        return ToolSpec(name=self.name, description=self.description, input_schema=schema)


def canonical_arguments(arguments: Mapping[str, Any] | None) -> str:
    """Arguments as stable JSON: same arguments, same string."""
    return json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"), default=str)


def idempotency_key(message_id: int, tool: str, arguments: Mapping[str, Any]) -> str:
    """Key of a side effect: the inbound message it answers plus the call (name + arguments)."""
    digest = hashlib.sha256(f"{message_id}|{tool}|{canonical_arguments(arguments)}".encode())
    return digest.hexdigest()


def _first_parameter_type(fn: ToolFn) -> object:
    params = list(inspect.signature(fn).parameters)
    try:
        return get_type_hints(fn).get(params[0]) if params else None
    except NameError as exc:  # annotation names a class not visible at module level
        raise TypeError(f"tool {fn.__name__}: pass input_model= explicitly ({exc})") from exc


class ToolRegistry:
    """The tools one bot offers; routes pick subsets by name."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def tool(self, *, side_effects: bool, name: str | None = None,
             description: str | None = None, title: str | None = None,
             input_model: type[BaseModel] | None = None) -> Callable[[ToolFn], ToolFn]:
        """Register an async function `(args: InputModel, ctx: ToolContext) -> output`.

        `description` (default: the docstring) is for the model; `title` names the
        tool's data source for users ("I couldn't get data from <title>"). The input
        model is the first parameter's annotation unless `input_model` is given.
        """
        def register(fn: ToolFn) -> ToolFn:
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(f"tool {fn.__name__} must be an async function")
            model = input_model or _first_parameter_type(fn)
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"tool {fn.__name__}: first parameter must be a pydantic model")
            identity = IDENTITY_FIELDS & set(model.model_fields)
            if identity:
                raise TypeError(f"tool {fn.__name__}: {sorted(identity)} must come from the "
                                "ToolContext, not from the model's arguments")
            tool_name = name or fn.__name__
            if tool_name in self._tools:
                raise ValueError(f"tool {tool_name} is already registered")
            text = description or inspect.getdoc(fn) or tool_name.replace("_", " ")
            self._tools[tool_name] = Tool(
                name=tool_name, description=text, title=title or tool_name.replace("_", " "),
                input_model=model, fn=fn, side_effects=side_effects)
            return fn
        return register

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def visible(self, subset: tuple[str, ...] | None) -> list[Tool]:
        """The tools a route shows: all of them, or the named ones that exist."""
        if subset is None:
            return [self._tools[n] for n in self.names()]
        return [self._tools[n] for n in subset if n in self._tools]
