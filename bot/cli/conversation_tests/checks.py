"""A step's expectations against what it did, each broken one as a readable message."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.cli.conversation_tests.spec import Expectations, ToolExpectation
from bot.models import OutboundReply


@dataclass(frozen=True)
class Observed:
    """What one step did: the reply (None when there was none), the intent recognised, the
    tools called with their arguments, the conversation's handoff and remembered facts."""

    reply: OutboundReply | None
    intent: str | None
    tools: list[tuple[str, dict[str, Any]]]
    handoff: str
    context: dict[str, Any]

    @property
    def text(self) -> str:
        return self.reply.text if self.reply is not None else ""

    @property
    def buttons(self) -> list[str]:
        return [o.title for o in self.reply.options()] if self.reply is not None else []


def _listed(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def failures_of(expect: Expectations, seen: Observed) -> list[str]:
    found: list[str] = []
    if expect.intent is not None and seen.intent != expect.intent:
        found.append(f"intent: expected {expect.intent!r}, got {seen.intent!r}")
    if expect.reply is not None and seen.text != expect.reply:
        diff = difflib.unified_diff(expect.reply.splitlines(), seen.text.splitlines(),
                                    "expected reply", "actual reply", lineterm="")
        found.append("reply differs:\n    " + "\n    ".join(diff))
    for part in _listed(expect.reply_contains):
        if part not in seen.text:
            found.append(f"reply does not contain {_quoted(part)}\n"
                         f"    reply: {_quoted(seen.text)}")
    for part in _listed(expect.reply_excludes):
        if part in seen.text:
            found.append(f"reply contains {_quoted(part)}, which it must not\n"
                         f"    reply: {_quoted(seen.text)}")
    if expect.reply_matches is not None and not re.search(expect.reply_matches, seen.text):
        found.append(f"reply does not match /{expect.reply_matches}/\n"
                     f"    reply: {_quoted(seen.text)}")
    if expect.buttons is not None and seen.buttons != expect.buttons:
        found.append(f"buttons: expected {expect.buttons}, got {seen.buttons}")
    missing = [b for b in expect.buttons_include or [] if b not in seen.buttons]
    if missing:
        found.append(f"buttons: {missing} not offered (offered: {seen.buttons})")
    if expect.tools is not None:
        found += _tool_failures(expect.tools, seen.tools)
    if expect.handoff is not None and seen.handoff != expect.handoff:
        found.append(f"handoff: expected {expect.handoff!r}, got {seen.handoff!r}")
    for key, value in (expect.context or {}).items():
        if key not in seen.context:
            found.append(f"context: nothing remembered as {key!r}"
                         f" (remembered: {sorted(seen.context)})")
        elif seen.context[key] != value:
            found.append(f"context {key!r}: expected {value!r}, got {seen.context[key]!r}")
    return found


def _tool_failures(expected: list[ToolExpectation],
                   called: list[tuple[str, dict[str, Any]]]) -> list[str]:
    names = [name for name, _ in called]
    if [t.name for t in expected] != names:
        return [f"tools: expected {[t.name for t in expected]}, called {names}"]
    found = []
    for want, (name, arguments) in zip(expected, called, strict=True):
        wrong = {k: v for k, v in want.arguments.items() if arguments.get(k) != v}
        if wrong:
            found.append(f"tool {name}: expected arguments {wrong},"
                         f" called with {arguments}")
    return found
