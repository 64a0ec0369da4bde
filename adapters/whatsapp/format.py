"""Markdown → WhatsApp text, and splitting long text into sendable messages.

Both are pure functions. The Markdown is parsed with markdown-it-py (CommonMark plus
strikethrough and tables) and rendered in WhatsApp's own markup: *bold*, _italic_,
~strike~, ```mono```; headings become bold lines, links "text (url)", so no
Markdown markers reach the user.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

#: Twilio's limit for one WhatsApp message body.
MAX_BODY_CHARS = 1600

_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])
_MARKS = {"strong": "*", "em": "_", "s": "~"}
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def to_whatsapp(markdown: str) -> str:
    """Render Markdown in WhatsApp's markup."""
    root = SyntaxTreeNode(_PARSER.parse(markdown))
    return _blocks(root.children).strip()


def _blocks(nodes: list[SyntaxTreeNode], sep: str = "\n\n") -> str:
    rendered = (_block(node) for node in nodes)
    return sep.join(text for text in rendered if text)


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline_of(node)
    if kind == "heading":
        text = _inline_of(node, plain=True).strip()
        return f"*{text}*" if text else ""
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind in ("fence", "code_block"):
        code = node.content.rstrip("\n")
        return f"```{code}```" if "\n" not in code else f"```\n{code}\n```"
    if kind == "blockquote":
        inner = _blocks(node.children)
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    if kind == "hr":
        return "———"
    if kind == "table":
        return _table(node)
    if kind == "html_block":
        return node.content.strip()
    return _blocks(node.children)


def _list(node: SyntaxTreeNode) -> str:
    start = int(str(node.attrs.get("start", 1))) if node.type == "ordered_list" else 1
    lines: list[str] = []
    for number, item in enumerate(node.children, start=start):
        prefix = f"{number}. " if node.type == "ordered_list" else "• "
        tight = all(child.hidden for child in item.children if child.type == "paragraph")
        body = _blocks(item.children, "\n" if tight else "\n\n")
        first, *rest = body.split("\n") if body else [""]
        lines.append(prefix + first)
        lines.extend(f"   {line}" if line else "" for line in rest)
    return "\n".join(lines)


def _table(node: SyntaxTreeNode) -> str:
    rows: list[str] = []
    for section in node.children:
        for row in section.children:
            cells = [_inline_of(cell).strip() for cell in row.children]
            rows.append(" · ".join(cell for cell in cells if cell))
    return "\n".join(row for row in rows if row)


def _inline_of(node: SyntaxTreeNode, *, plain: bool = False) -> str:
    inline = next((child for child in node.children if child.type == "inline"), None)
    return _inline(inline.children, plain) if inline is not None else ""


def _inline(nodes: list[SyntaxTreeNode], plain: bool) -> str:
    out: list[str] = []
    for node in nodes:
        kind = node.type
        if kind == "text":
            out.append(node.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind in _MARKS:
            inner = _inline(node.children, plain)
            mark = "" if plain or not inner.strip() else _MARKS[kind]
            out.append(f"{mark}{inner}{mark}")
        elif kind == "code_inline":
            out.append(node.content if plain else f"```{node.content}```")
        elif kind == "link":
            out.append(_link(_inline(node.children, plain), str(node.attrs.get("href", ""))))
        elif kind == "image":
            alt = _inline(node.children, True)
            out.append(_link(alt, str(node.attrs.get("src", ""))))
        else:
            out.append(node.content or _inline(node.children, plain))
    return "".join(out)


def _link(text: str, href: str) -> str:
    shown = href.removeprefix("mailto:")
    if not text or text in (shown, href):
        return shown
    return f"{text} ({shown})" if shown else text


def split_message(text: str, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Split text into parts of at most `limit` characters.

    Cuts at paragraph breaks, then sentence ends, then spaces, and only inside a word
    when a single word is longer than the limit. No part is empty; the parts hold
    every non-space character of the text, in order.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces = (piece.strip() for piece in _pieces(text.strip(), limit, 0))
    return [piece for piece in pieces if piece]


_JOINER = "\n\n"
_LEVELS = (re.compile(r"\n\s*\n"), _SENTENCE_END, re.compile(r"\s+"))


def _pieces(text: str, limit: int, level: int) -> list[str]:
    """Pieces no longer than `limit`, cutting at the coarsest boundary that works."""
    if len(text) <= limit:
        return [text]
    if level == len(_LEVELS):
        return [text[i:i + limit] for i in range(0, len(text), limit)]
    chunks = [c for c in _LEVELS[level].split(text) if c.strip()]
    if len(chunks) == 1:
        return _pieces(text, limit, level + 1)
    glue = (_JOINER, " ", " ")[level]
    merged: list[str] = []
    for chunk in chunks:
        for small in _pieces(chunk.strip(), limit, level + 1):
            if merged and len(merged[-1]) + len(glue) + len(small) <= limit:
                merged[-1] = merged[-1] + glue + small
            else:
                merged.append(small)
    return merged
