"""Conversation memory for the prompt: recent turns within a token budget, older
turns folded into a rolling summary stored on the session.

When the unfolded messages of a session exceed the budget, the oldest are folded
until what remains fits in `keep_ratio` of it; the gap before the next fold keeps
summarisation to every few turns. The summary itself is capped, so the prompt
stays bounded however long the conversation gets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog

from bot.agent.messages import Message, TextPart
from bot.agent.tokens import estimate_tokens
from bot.db.pool import Database

SUMMARY_SYSTEM = (
    "You keep a short running summary of a customer conversation, used as the assistant's "
    "memory. Merge the new messages into the current summary. Keep facts, requests, "
    "decisions and open questions; drop small talk. Never include ids, phone numbers or "
    "e-mail addresses. At most {words} words. Reply with the summary only."
)
log = structlog.get_logger(__name__)
Row = dict[str, Any]
Summarize = Callable[[str, list[Row]], Awaitable[str]]


@dataclass(frozen=True)
class HistoryWindow:
    """The summary of older turns and the recent messages, ending with the current one."""

    summary: str
    messages: list[Message]


def row_text(row: Row) -> str:
    return str(row.get("text") or row.get("payload") or "")


def transcript(rows: list[Row]) -> str:
    return "\n".join(f"{'User' if r['direction'] == 'in' else 'Bot'}: {row_text(r)}"
                     for r in rows if row_text(r))


def split_for_budget(rows: list[Row], budget: int, keep_ratio: float,
                     ) -> tuple[list[Row], list[Row]]:
    """(rows to fold into the summary, rows to keep verbatim), oldest first."""
    if sum(estimate_tokens(row_text(r)) + 4 for r in rows) <= budget:
        return [], rows
    keep: list[Row] = []
    used = 0
    for row in reversed(rows):
        used += estimate_tokens(row_text(row)) + 4
        if used > budget * keep_ratio:
            break
        keep.insert(0, row)
    return rows[: len(rows) - len(keep)], keep


def clip_summary(text: str, max_tokens: int) -> str:
    """Keep the most recent part when a summary grows past its cap."""
    limit = max_tokens * 4
    return text if len(text) <= limit else "…" + text[-limit:]


def fallback_summary(previous: str, rows: list[Row], max_tokens: int) -> str:
    """Without the model: the earlier summary plus the folded lines, clipped."""
    lines = [f"{'User' if r['direction'] == 'in' else 'Bot'}: {row_text(r)[:200]}"
             for r in rows if row_text(r)]
    return clip_summary("\n".join([previous, *lines]).strip(), max_tokens)


def to_messages(rows: list[Row], current_text: str) -> list[Message]:
    """Rows plus the current text as alternating user/assistant messages, user first."""
    messages: list[Message] = []
    for row in [*rows, {"direction": "in", "text": current_text}]:
        role = "user" if row["direction"] == "in" else "assistant"
        text = row_text(row)
        if not text:
            continue
        if messages and messages[-1].role == role:
            messages[-1].parts.append(TextPart(text="\n" + text))
        else:
            messages.append(Message(role=role, parts=[TextPart(text=text)]))
    if messages and messages[0].role == "assistant":
        messages.insert(0, Message.user("(continuing our conversation)"))
    if not messages:
        messages.append(Message.user("(no text)"))
    return messages


SUMMARY_SQL = "SELECT summary FROM app.sessions WHERE id = %s"
# The newest messages after the summary, minus this turn's own (params: session twice,
# this turn's message ids, how many): independent of the summary read, so both can go
# in one round trip.
UNFOLDED_SQL = (
    "SELECT id, direction, text, payload FROM ("
    " SELECT id, direction, text, payload FROM app.messages"
    " WHERE session_id = %s AND NOT (id = ANY(%s)) AND id > coalesce("
    "  (SELECT summary_through FROM app.sessions WHERE id = %s), 0)"
    " ORDER BY id DESC LIMIT %s) recent ORDER BY id")


@dataclass(frozen=True)
class StoredHistory:
    """The session's rolling summary and the messages it does not cover yet."""

    summary: str
    rows: list[Row]


async def fold_history(db: Database, stored: StoredHistory, *, contact_id: UUID,
                       session_id: UUID, current_text: str, budget: int, keep_ratio: float,
                       summary_max_tokens: int, summarize: Summarize | None) -> HistoryWindow:
    """Fold what exceeds the budget into the summary (stored), return the window."""
    summary, rows = stored.summary, stored.rows
    fold, recent = split_for_budget(rows, budget, keep_ratio)
    if fold:
        summary = await _folded(summary, fold, summary_max_tokens, summarize)
        async with db.as_user(contact_id, pipeline=True) as conn:
            await conn.execute(
                "UPDATE app.sessions SET summary = %s, summary_through = %s WHERE id = %s",
                (summary, fold[-1]["id"], session_id))
    return HistoryWindow(summary=summary, messages=to_messages(recent, current_text))


async def _folded(previous: str, rows: list[Row], max_tokens: int,
                  summarize: Summarize | None) -> str:
    if summarize is not None:
        try:
            written = (await summarize(previous, rows)).strip()
            if written:
                return clip_summary(written, max_tokens)
        except Exception as exc:  # a missing summary must not cost the user the answer
            log.warning("summary_failed", error=type(exc).__name__)
    return fallback_summary(previous, rows, max_tokens)
