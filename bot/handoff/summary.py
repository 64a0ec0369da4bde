"""A short summary of the conversation for the person taking over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.pii import mask_pii


def extractive_summary(history: Sequence[dict[str, Any]], limit: int = 3,
                       max_chars: int = 400) -> str:
    """The user's last few messages, oldest first, as a compact line each."""
    asked = [str(m["text"]).strip() for m in history
             if m.get("direction") == "in" and str(m.get("text") or "").strip()]
    lines = [f"• {mask_pii(text)[:160]}" for text in asked[-limit:]]
    summary = "\n".join(lines)
    return summary if len(summary) <= max_chars else summary[: max_chars - 1] + "…"


def transcript(history: Sequence[dict[str, Any]], limit: int = 6) -> list[str]:
    """The last messages as "User: …" / "Bot: …" lines for the console."""
    lines = []
    for m in list(history)[-limit:]:
        who = "User" if m.get("direction") == "in" else ("Staff" if m.get("author") else "Bot")
        text = str(m.get("text") or "").strip().replace("\n", " ")
        if text:
            lines.append(f"{who}: {text[:200]}")
    return lines
