"""Split a Markdown file into passages: one per heading section, bounded in size.

markdown-it-py finds the headings and block boundaries, so a `#` inside a code
fence is not a heading and a list or table is never cut mid-item unless it alone
exceeds the bound. Each passage keeps its heading path ("Policies › Cancellation")
as context for search and for citing the source.
"""

from __future__ import annotations

import hashlib
import re

from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import BaseModel

HEADING_SEPARATOR = " › "


class Chunk(BaseModel):
    """One passage of a knowledge file."""

    source: str
    ordinal: int
    heading: str
    content: str

    @property
    def title(self) -> str:
        """The section's own heading, the last part of the path."""
        return self.heading.rsplit(HEADING_SEPARATOR, 1)[-1]

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.heading}\n{self.content}".encode()).hexdigest()


class _Section(BaseModel):
    heading: str
    blocks: list[str]


def _inline_text(token: Token) -> str:
    parts = [child.content for child in token.children or [] if child.type in
             ("text", "code_inline")]
    return "".join(parts).strip() or token.content.strip()


def _sections(text: str, title: str) -> list[_Section]:
    lines = text.splitlines()
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    path: list[tuple[int, str]] = []
    sections = [_Section(heading=title, blocks=[])]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open" and token.level == 0:
            level = int(token.tag[1:])
            path = [(lvl, name) for lvl, name in path if lvl < level]
            path.append((level, _inline_text(tokens[i + 1])))
            sections.append(_Section(heading=HEADING_SEPARATOR.join(n for _, n in path),
                                     blocks=[]))
            i += 3
            continue
        if token.level == 0 and token.map is not None and token.nesting >= 0:
            start, end = token.map
            sections[-1].blocks.append("\n".join(lines[start:end]).strip())
        i += 1
    return [s for s in sections if any(s.blocks)]


def _split_long(block: str, max_chars: int) -> list[str]:
    """A block over the bound: by lines, then sentences, then words."""
    if len(block) <= max_chars:
        return [block]
    for pattern in (r"\n", r"(?<=[.!?])\s+", r"\s+"):
        pieces = [p for p in re.split(pattern, block) if p.strip()]
        if len(pieces) > 1:
            return _pack(pieces, max_chars, joiner="\n" if pattern == r"\n" else " ")
    return [block[i:i + max_chars] for i in range(0, len(block), max_chars)]


def _pack(pieces: list[str], max_chars: int, joiner: str) -> list[str]:
    packed: list[str] = []
    current = ""
    for piece in pieces:
        for part in _split_long(piece, max_chars):
            candidate = f"{current}{joiner}{part}" if current else part
            if len(candidate) <= max_chars:
                current = candidate
            else:
                if current:
                    packed.append(current)
                current = part
    if current:
        packed.append(current)
    return packed


def title_from_source(source: str) -> str:
    stem = source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return re.sub(r"[-_]+", " ", stem).strip().capitalize()


def chunk_markdown(text: str, source: str, max_chars: int = 1200) -> list[Chunk]:
    """The passages of one Markdown file, in order; text before any heading is titled
    after the file name."""
    chunks: list[Chunk] = []
    for section in _sections(text, title_from_source(source)):
        for content in _pack([b for b in section.blocks if b], max_chars, joiner="\n\n"):
            chunks.append(Chunk(source=source, ordinal=len(chunks), heading=section.heading,
                                content=content))
    return chunks
