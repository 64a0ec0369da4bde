"""Pure conversions from the common reply form to Slack: mrkdwn text and Block Kit.

Markdown is parsed with mistune (an AST, so code spans, URLs and stray asterisks
are never mistaken for emphasis) and rendered to mrkdwn here. Slack's
Block Kit limits are platform facts, not tuning knobs, so they are constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mistune

from bot.models import Card, Carousel, MediaPart, Option, OutboundReply, PickList, QuickReplies

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_SELECT_OPTIONS = 100
MAX_FALLBACK_TEXT = 3000
#: a list with more options than this becomes a static select instead of buttons
SELECT_AFTER = 5
ACTION_PREFIX = "bot_choice"

Block = dict[str, Any]
_parse = mistune.create_markdown(renderer=None, plugins=["strikethrough"])


@dataclass(frozen=True)
class SlackMessage:
    """One chat.postMessage worth of reply: the fallback text and its blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inline(tokens: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for tok in tokens:
        kind = tok["type"]
        inner = _inline(tok.get("children", []))
        if kind == "text" or kind == "inline_html":
            out.append(escape(tok.get("raw", "")))
        elif kind == "strong":
            out.append(f"*{inner}*")
        elif kind == "emphasis":
            out.append(f"_{inner}_")
        elif kind == "strikethrough":
            out.append(f"~{inner}~")
        elif kind == "codespan":
            out.append(f"`{escape(tok.get('raw', ''))}`")
        elif kind in ("link", "image"):
            url = escape(tok.get("attrs", {}).get("url", ""))
            label = inner.replace("|", "\N{DIVIDES}")
            out.append(f"<{url}>" if not label or label == url else f"<{url}|{label}>")
        elif kind in ("linebreak", "softbreak"):
            out.append("\n")
        else:
            out.append(inner or escape(tok.get("raw", "")))
    return "".join(out)


def _list(tok: dict[str, Any], depth: int) -> str:
    attrs = tok.get("attrs", {})
    start = int(attrs.get("start") or 1)
    lines: list[str] = []
    for n, item in enumerate(tok.get("children", [])):
        marker = f"{start + n}." if attrs.get("ordered") else "\N{BULLET}"
        body: list[str] = []
        for child in item.get("children", []):
            if child["type"] == "list":
                body.append(_list(child, depth + 1))
            else:
                body.append(_block(child, depth))
        text = "\n".join(b for b in body if b)
        lines.append("    " * depth + f"{marker} {text}")
    return "\n".join(lines)


def _block(tok: dict[str, Any], depth: int = 0) -> str:
    kind = tok["type"]
    if kind in ("paragraph", "block_text"):
        return _inline(tok.get("children", []))
    if kind == "heading":
        return f"*{_inline(tok.get('children', [])).replace('*', '')}*"
    if kind == "block_code":
        return "```\n" + escape(tok.get("raw", "").rstrip("\n")) + "\n```"
    if kind == "block_quote":
        inner = "\n\n".join(_block(c) for c in tok.get("children", []) if c["type"] != "blank_line")
        return "\n".join("> " + line for line in inner.split("\n"))
    if kind == "list":
        return _list(tok, depth)
    if kind == "thematic_break":
        return "\N{BOX DRAWINGS LIGHT HORIZONTAL}" * 12
    if kind == "blank_line":
        return ""
    return escape(tok.get("raw", "")) or _inline(tok.get("children", []))


def markdown_units(markdown: str) -> list[str]:
    """The top-level blocks of a Markdown text, each rendered to mrkdwn."""
    tokens: Any = _parse(markdown)
    return [unit.rstrip() for unit in (_block(t) for t in tokens) if unit.strip()]


def markdown_to_mrkdwn(markdown: str) -> str:
    """Markdown → Slack mrkdwn: bold, italic, strike, code, links, lists, headings, quotes."""
    return "\n\n".join(markdown_units(markdown))


def _split_oversized(unit: str, limit: int) -> list[str]:
    """Cut one rendered block at line (then word) boundaries; code fences are reopened."""
    fenced = unit.startswith("```") and unit.endswith("```")
    body = unit[4:-4] if fenced else unit
    budget = limit - 8 if fenced else limit
    pieces: list[str] = []
    current = ""
    for line in body.split("\n"):
        while len(line) > budget:
            cut = line.rfind(" ", 0, budget)
            cut = cut if cut > budget // 2 else budget
            pieces, current = _push(pieces, current, line[:cut], budget)
            line = line[cut:].lstrip(" ")
        pieces, current = _push(pieces, current, line, budget)
    if current:
        pieces.append(current)
    return ["```\n" + p + "\n```" for p in pieces] if fenced else pieces


def _push(pieces: list[str], current: str, line: str, budget: int) -> tuple[list[str], str]:
    joined = f"{current}\n{line}" if current else line
    if len(joined) <= budget:
        return pieces, joined
    return [*pieces, current] if current else pieces, line


def split_mrkdwn(units: list[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Pack rendered blocks into chunks of at most `limit` characters, splitting only
    between blocks when possible, so no bold, link or code span is cut in two."""
    chunks: list[str] = []
    current = ""
    for unit in units:
        for piece in ([unit] if len(unit) <= limit else _split_oversized(unit, limit)):
            joined = f"{current}\n\n{piece}" if current else piece
            if len(joined) <= limit:
                current = joined
            else:
                chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


class _Actions:
    """Numbers the interactive elements of one reply so every action_id is unique."""

    def __init__(self) -> None:
        self.count = 0

    def next_id(self) -> str:
        self.count += 1
        return f"{ACTION_PREFIX}:{self.count}"

    def buttons(self, options: list[Option]) -> list[Block]:
        elements = [{
            "type": "button", "action_id": self.next_id(),
            "text": {"type": "plain_text", "text": _clip(o.title, MAX_BUTTON_TEXT), "emoji": True},
            "value": o.payload[:MAX_BUTTON_VALUE],
        } for o in options]
        return [{"type": "actions", "elements": elements[i:i + MAX_ACTION_ELEMENTS]}
                for i in range(0, len(elements), MAX_ACTION_ELEMENTS)]

    def select(self, part: PickList) -> list[Block]:
        blocks: list[Block] = []
        for i in range(0, len(part.options), MAX_SELECT_OPTIONS):
            options = [{
                "text": {"type": "plain_text", "text": _clip(o.title, MAX_OPTION_TEXT)},
                "value": o.payload,
                **({"description": {"type": "plain_text",
                                    "text": _clip(o.description, MAX_OPTION_TEXT)}}
                   if o.description else {}),
            } for o in part.options[i:i + MAX_SELECT_OPTIONS]]
            blocks.append({"type": "actions", "elements": [{
                "type": "static_select", "action_id": self.next_id(), "options": options,
                "placeholder": {"type": "plain_text", "text": _clip(part.button, 150)},
            }]})
        return blocks


def _card(card: Card, actions: _Actions) -> list[Block]:
    text = f"*{escape(card.title)}*" + (f"\n{markdown_to_mrkdwn(card.body)}" if card.body else "")
    section: Block = {"type": "section",
                      "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION_TEXT)}}
    if card.image_url:
        section["accessory"] = {"type": "image", "image_url": card.image_url,
                                "alt_text": _clip(card.title, 2000)}
    return [section, *actions.buttons(card.buttons)]


def part_blocks(part: object, actions: _Actions) -> list[Block]:
    """Block Kit for one rich part of a reply."""
    if isinstance(part, QuickReplies):
        return actions.buttons(part.options)
    if isinstance(part, PickList):
        fits_select = all(len(o.payload) <= MAX_OPTION_VALUE for o in part.options)
        if len(part.options) > SELECT_AFTER and fits_select:
            return actions.select(part)
        return actions.buttons(part.options)
    if isinstance(part, Card):
        return _card(part, actions)
    if isinstance(part, Carousel):
        blocks: list[Block] = []
        for n, card in enumerate(part.cards):
            blocks.extend(([{"type": "divider"}] if n else []) + _card(card, actions))
        return blocks
    if isinstance(part, MediaPart):
        media = part.media
        if media.content_type.startswith("image/"):
            return [{"type": "image", "image_url": media.url,
                     "alt_text": _clip(media.caption or "image", 2000)}]
        label = escape(media.caption or media.url)
        return [{"type": "section", "text": {"type": "mrkdwn", "text": f"<{media.url}|{label}>"}}]
    return []


def _fallback(blocks: list[Block]) -> str:
    texts: list[str] = []
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            texts.append(str(text.get("text", "")))
        for element in block.get("elements", []):
            if element.get("type") == "button":
                texts.append(element["text"]["text"])
    return _clip("\n".join(t for t in texts if t), MAX_FALLBACK_TEXT) or " "


def render_reply(reply: OutboundReply) -> list[SlackMessage]:
    """The reply as one or more Slack messages, each within Block Kit's limits."""
    sections: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
                             for chunk in split_mrkdwn(markdown_units(reply.text))]
    actions = _Actions()
    extra = [b for part in reply.parts for b in part_blocks(part, actions)]
    if reply.from_human:  # written by a person of the team during a handoff
        extra.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": ":bust_in_silhouette: From a person on the team"}]})
    blocks = sections + extra
    if not blocks:
        return [SlackMessage(text=" ")]
    return [SlackMessage(text=_fallback(blocks[i:i + MAX_BLOCKS]), blocks=blocks[i:i + MAX_BLOCKS])
            for i in range(0, len(blocks), MAX_BLOCKS)]


def after_choice(blocks: list[Block], chosen: str, user_id: str) -> list[Block]:
    """The clicked message with its buttons removed and the choice shown instead."""
    kept = [b for b in blocks if not (b.get("type") == "actions" and any(
        str(e.get("action_id", "")).startswith(ACTION_PREFIX) for e in b.get("elements", [])))]
    note = f"<@{user_id}> chose *{escape(chosen)}*"
    context: Block = {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}
    return [*kept, context][-MAX_BLOCKS:]
