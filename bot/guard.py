"""The guard stage: checks and normalises a message before anything else sees it."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.models import Media, OutboundReply

# Keep tab/newline; everything else in Unicode category Cc/Cf (controls, format chars
# such as zero-width joiners used to smuggle text) goes.
_KEEP = {"\n", "\t"}

# The answer to a message the injection detector refuses (no LLM sees it).
INJECTION_REFUSED_TEXT = (
    "Sorry, I can't help with that message. If you have a question about your account, "
    "a booking or our services, just ask it in your own words."
)


def normalise_text(text: str) -> str:
    """NFKC-normalised text without control or invisible format characters."""
    text = unicodedata.normalize("NFKC", text)
    cleaned = "".join(
        ch for ch in text if ch in _KEEP or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )
    return cleaned.strip()


@dataclass(frozen=True)
class GuardVerdict:
    """Whether a message may go on, its normalised text, and the answer if it may not."""

    allowed: bool
    text: str
    reason: str | None = None
    reply: OutboundReply | None = None


def check_input(
    text: str, *, media: list[Media], payload: str | None, max_chars: int
) -> GuardVerdict:
    """Validate one turn's input; rejections carry a friendly answer and a log reason."""
    clean = normalise_text(text)
    if len(clean) > max_chars:
        return GuardVerdict(
            False, "", "too_long",
            OutboundReply(text=(
                f"That message is a bit long for me ({len(clean)} characters). "
                f"Could you send it in a shorter form, under {max_chars} characters?"
            )),
        )
    if not clean and not media and not payload:
        return GuardVerdict(
            False, "", "empty",
            OutboundReply(text="I didn't catch any text there. What can I help you with?"),
        )
    return GuardVerdict(True, clean)
