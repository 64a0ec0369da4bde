"""Knowledge-base answers as replies: the passage with its source, or a clarifying question."""

from __future__ import annotations

import re
from pathlib import Path

from bot.knowledge.search import Passage, SearchResult
from bot.models import Option, OutboundReply, QuickReplies, short_title

# Payload prefix of a suggested topic: the router searches the title after it.
TOPIC_PAYLOAD = "kb:"
# The built-in human_handoff intent, as a tapped option (see docs/bot-definition.md).
HANDOFF_PAYLOAD = "intent:human_handoff"


def source_title(passage: Passage) -> str:
    """Where a passage comes from, for people: the document's title and section (from its
    headings), or the file's name made readable when it has no heading."""
    if passage.heading.strip():
        return passage.heading
    return Path(passage.source).stem.replace("-", " ").replace("_", " ").capitalize()


def cite(passage: Passage) -> str:
    return f"Source: {source_title(passage)}"


_BLOCK_START = re.compile(r"^\s*([-*+>#|]|\d+[.)]\s|```)")


def unwrap(text: str) -> str:
    """Join the hard-wrapped lines of Markdown paragraphs and list items.

    Source files wrap at ~80 columns; chat clients wrap by themselves, and a line
    break inside `**bold**` would break the formatting on every channel.
    """
    out: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append(line)
            continue
        joinable = (out and out[-1].strip() and line.strip() and not fenced
                    and not _BLOCK_START.match(line) and not out[-1].lstrip().startswith("#"))
        if joinable:
            out[-1] = f"{out[-1].rstrip()} {line.strip()}"
        else:
            out.append(line)
    return "\n".join(out)


def passage_reply(passage: Passage) -> OutboundReply:
    """Answer from one passage, saying where it comes from."""
    return OutboundReply(text=f"{unwrap(passage.content)}\n\n_{cite(passage)}_")


def clarify_reply(result: SearchResult, max_topics: int = 3) -> OutboundReply:
    """Not sure enough to answer: offer the closest topics and a person."""
    seen: list[str] = []
    for passage in result.passages:
        title = passage.heading.rsplit(" › ", 1)[-1]
        if title not in seen:
            seen.append(title)
    options = [Option(title=short_title(t, 20), payload=TOPIC_PAYLOAD + t, description=t)
               for t in seen[:max_topics]]
    options.append(Option(title="Talk to a person", payload=HANDOFF_PAYLOAD))
    text = ("I'm not sure I have the answer to that. Is it about one of these?"
            if seen else "I don't have information about that. Want me to ask the team?")
    return OutboundReply(text=text, parts=[QuickReplies(options=options)])


def answer_reply(result: SearchResult, min_confidence: float) -> OutboundReply:
    """The top passage when confident enough, otherwise a clarifying question."""
    if result.is_confident(min_confidence):
        return passage_reply(result.passages[0])
    return clarify_reply(result)
