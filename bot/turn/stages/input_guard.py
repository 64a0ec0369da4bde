"""The input guard: checks and normalises a message before anything else sees it.

NFKC, control and invisible characters stripped; an empty message or one longer than
MAX_MESSAGE_CHARS is answered with a fixed text. A message that passes is recorded in the
audit log (masked) when AUDIT_USER_PROMPTS is on.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import structlog

from bot.db.audit import audit
from bot.db.pool import Conn
from bot.models import Media, OutboundReply
from bot.observability import Metrics
from bot.pii import mask_sample
from bot.turn.stage import Answer, Outcome, Turn, guarded

log = structlog.get_logger(__name__)

# Keep tab/newline; everything else in Unicode category Cc/Cf (controls, format chars
# such as zero-width joiners used to smuggle text) goes.
_KEEP = {"\n", "\t"}

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


class InputGuard:
    def __init__(self, *, max_chars: int, audit_prompts: bool, metrics: Metrics) -> None:
        self.max_chars = max_chars
        self.audit_prompts = audit_prompts
        self.metrics = metrics

    async def run(self, turn: Turn) -> Outcome | None:
        last = turn.last
        verdict = check_input(turn.raw_text, media=[x for m in turn.batch for x in m.media],
                              payload=last.payload, max_chars=self.max_chars)
        if not verdict.allowed:
            assert verdict.reply is not None
            self.metrics.guard_rejections.labels(verdict.reason or "unknown").inc()
            log.info("guard_rejected", reason=verdict.reason, message_id=last.id)
            return Answer(verdict.reply, guarded("rejected"))
        turn.text = verdict.text
        if self.audit_prompts and verdict.text:
            sample = mask_sample(verdict.text)

            async def write(conn: Conn) -> None:
                await audit(conn, contact_id=last.contact_id, actor="user", action="prompt",
                            detail={"message_id": last.id, "sample": sample})
            turn.unit.write(write)
        return None
