"""`bot check [DEFINITION]`: a bot definition checked before anything is trained or served.

Every problem is printed with where it is (`bots/shop/bot.yaml: intents.opening_hours.
route.handler: …`); errors stop the bot (exit 1), warnings do not. `bot serve` runs the
same checks first (all but the encoder's near-duplicate search, which only warns).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from bot.agent.tools import ToolContext
from bot.assembly import bot_tools
from bot.cli.common import LoadSettings
from bot.db.pool import Database
from bot.definition import AgentRoute, BotDefinition, DirectRoute, load_definition
from bot.definition.builtin import BUILTIN_INTENT_DATA
from bot.plugins import PluginError, load_plugin, plugin_handlers
from bot.routing.handlers import BUILTIN_HANDLER_NAMES
from bot.settings import Settings

#: fewer examples than this and the classifier cannot learn an intent
MIN_EXAMPLES = 3
#: fewer than this works, but is easily confused with its neighbours
ADVISED_EXAMPLES = 8
#: cosine similarity (MiniLM) of two examples of different intents that read as one request:
#: paraphrases of one request score about 0.85-0.95, different requests below 0.8
NEAR_DUPLICATE = 0.9
_BUILTIN_INTENTS = frozenset(str(data["name"]) for data in BUILTIN_INTENT_DATA)


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning"]
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.level}: {self.what}"


def _loc(parts: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in parts)


def check_definition(path: Path | None, settings: Settings, *,
                     near_duplicates: bool = True) -> list[Problem]:
    """Every problem of the definition at `path` (None: the built-in one)."""
    source = str(path) if path is not None else "built-in definition"
    try:
        definition = load_definition(path)
    except OSError as exc:
        return [Problem("error", source, f"cannot be read: {exc.strerror or exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        return [Problem("error", where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    except ValidationError as exc:
        return [Problem("error", f"{source}: {_loc(e['loc'])}" if e["loc"] else source,
                        e["msg"]) for e in exc.errors()]
    found = _folders(definition, source)
    try:
        plugin = load_plugin(definition)
    except PluginError as exc:
        found.append(Problem("error", f"{source}: plugin", str(exc)))
        plugin = None
    try:
        handlers: Set[str] = BUILTIN_HANDLER_NAMES | set(
            plugin_handlers(plugin, Database(None, settings), settings))
        tools: Set[str] = set(bot_tools(definition, plugin, settings, _no_handover).names())
    except Exception as exc:  # the plugin's own code failed while building its parts
        found.append(Problem("error", f"{source}: plugin", f"failed to build: {exc!r}"))
        handlers, tools = BUILTIN_HANDLER_NAMES, set()
    found += _routes(definition, source, handlers, tools)
    found += _examples(definition, source)
    if near_duplicates:
        found += _near_duplicates(definition, source, settings)
    found += _wording(definition, source)
    return found


async def _no_handover(ctx: ToolContext, reason: str) -> None:
    """Tools are only listed here, never run."""


def _folders(definition: BotDefinition, source: str) -> list[Problem]:
    found = []
    for key in ("knowledge_dir", "migrations"):
        folder = getattr(definition, key)
        if folder and not Path(folder).is_dir():
            found.append(Problem("error", f"{source}: {key}", f"no folder {folder}"))
    return found


def _routes(definition: BotDefinition, source: str, handlers: Set[str],
            tools: Set[str]) -> list[Problem]:
    found = []
    known = ", ".join(sorted(handlers))
    for intent in definition.intents:
        where = f"{source}: intents.{intent.name}.route"
        route = intent.route
        if isinstance(route, DirectRoute) and route.handler not in handlers:
            found.append(Problem("error", f"{where}.handler",
                                 f"unknown handler {route.handler!r} (known: {known})"))
        if not isinstance(route, AgentRoute):
            continue
        if route.offline_handler is not None and route.offline_handler not in handlers:
            found.append(Problem("error", f"{where}.offline_handler",
                                 f"unknown handler {route.offline_handler!r} (known: {known})"))
        elif route.offline_handler is None and intent.name not in _BUILTIN_INTENTS:
            found.append(Problem("warning", f"{where}.offline_handler",
                                 "none: without an LLM key this intent only says that it "
                                 "needs the AI service"))
        for tool in route.tools:
            if tool not in tools:
                found.append(Problem("error", f"{where}.tools", f"unknown tool {tool!r} "
                                     f"(known: {', '.join(sorted(tools))})"))
        for tool in route.confirm:
            if tool not in route.tools:
                found.append(Problem("error", f"{where}.confirm",
                                     f"{tool!r} is confirmed but not among the route's tools"))
    intents = {i.name for i in definition.intents}
    for n, item in enumerate(definition.menu):
        if item.payload.startswith("intent:") and item.payload[7:] not in intents:
            found.append(Problem("error", f"{source}: menu.{n}.payload",
                                 f"unknown intent {item.payload[7:]!r}"))
    return found


def _own_intents(definition: BotDefinition) -> list[Any]:
    """The intents the definition itself declares (built-ins it did not override aside)."""
    builtins = {str(d["name"]): d for d in BUILTIN_INTENT_DATA}
    return [i for i in definition.intents if i.name not in builtins
            or i.examples != builtins[i.name].get("examples")]


def _examples(definition: BotDefinition, source: str) -> list[Problem]:
    found = []
    seen: dict[str, str] = {}
    for intent in _own_intents(definition):
        where = f"{source}: intents.{intent.name}.examples"
        count = len(intent.examples)
        if count < MIN_EXAMPLES:
            found.append(Problem("error", where, f"{count} example(s): the classifier needs at "
                                 f"least {MIN_EXAMPLES} (better {ADVISED_EXAMPLES} or more)"))
        elif count < ADVISED_EXAMPLES:
            found.append(Problem("warning", where, f"{count} examples: {ADVISED_EXAMPLES} or "
                                 "more tell it apart from its neighbours"))
        for example in intent.examples:
            key = " ".join(example.lower().split())
            other = seen.setdefault(key, intent.name)
            if other != intent.name:
                found.append(Problem("error", where,
                                     f"{example!r} is also an example of {other!r}"))
    return found


def _near_duplicates(definition: BotDefinition, source: str,
                     settings: Settings) -> list[Problem]:
    """Examples of different intents the encoder reads as the same sentence."""
    from bot.intents.embedding import MiniLMEmbedder

    pairs = [(i.name, e) for i in definition.intents for e in i.examples]
    if len(pairs) < 2:
        return []
    embedder = MiniLMEmbedder(model_dir=settings.models_dir)
    try:
        vectors = embedder.embed([e for _, e in pairs])
    finally:
        embedder.close()
    similar = vectors @ vectors.T
    found = []
    for a in range(len(pairs)):
        for b in range(a + 1, len(pairs)):
            if pairs[a][0] != pairs[b][0] and pairs[a][1].lower() != pairs[b][1].lower() \
                    and similar[a, b] >= NEAR_DUPLICATE:
                found.append(Problem(
                    "warning", f"{source}: intents.{pairs[a][0]}.examples",
                    f"{pairs[a][1]!r} reads like {pairs[b][1]!r} of {pairs[b][0]!r} "
                    f"(similarity {similar[a, b]:.2f})"))
    return found


def _wording(definition: BotDefinition, source: str) -> list[Problem]:
    defaults = BotDefinition()
    found = []
    if definition.name == defaults.name:
        found.append(Problem("warning", f"{source}: name",
                             f"not set: the bot introduces itself as {defaults.name!r}"))
    if not definition.persona.strip() or definition.persona == defaults.persona:
        found.append(Problem("warning", f"{source}: persona",
                             "not set: the agent gets a generic persona"))
    return found


def report(problems: list[Problem]) -> int:
    """Print the problems; 1 when any is an error."""
    for problem in problems:
        print(problem, file=sys.stderr)
    errors = sum(p.level == "error" for p in problems)
    if errors:
        print(f"{errors} error(s): fix them before the bot starts", file=sys.stderr)
    return 1 if errors else 0


def add_commands(sub: Any, load_settings: LoadSettings) -> None:
    def check(args: argparse.Namespace) -> int:
        settings = load_settings()
        path = Path(args.definition) if args.definition else settings.definition_path
        problems = check_definition(path, settings, near_duplicates=not args.fast)
        code = report(problems)
        if code == 0:
            print(f"{path or 'the built-in definition'}: ok"
                  + (f" ({len(problems)} warning(s))" if problems else ""))
        return code

    cmd = sub.add_parser("check", help="check a bot definition (default: BOT_DEFINITION)")
    cmd.add_argument("definition", nargs="?", help="path of a bot.yaml")
    cmd.add_argument("--fast", action="store_true",
                     help="skip the encoder's search for near-duplicate examples")
    cmd.set_defaults(func=check)
