"""Security events: recorded in the audit log, and told to operators' hooks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bot.db.audit import audit
from bot.db.pool import Conn, after_commit
from bot.hooks import EventHooks
from bot.pii import mask_sample
from bot.safety.injection import InjectionVerdict


async def security_event(conn: Conn, *, contact_id: UUID | None, kind: str, severity: str,
                         detail: dict[str, Any], hooks: EventHooks | None = None) -> None:
    """A security event (injection attempt, output leak, abuse) with its severity.

    With `hooks`, operators' receivers hear of it too once it is committed (kind, severity
    and the message id only: the detail may hold personal data).
    """
    await audit(conn, contact_id=contact_id, actor="system", action=f"security:{kind}",
                detail={"severity": severity, **detail})
    if hooks is not None:
        message_id = detail.get("message_id")
        after_commit(lambda: hooks.emit("security.event", kind=kind, severity=severity,
                                        message_id=message_id))


async def injection_event(conn: Conn, *, contact_id: UUID, message_id: int,
                          verdict: InjectionVerdict, text: str,
                          hooks: EventHooks | None = None) -> None:
    """A message the injection detector flagged: its action, score, rules, masked sample.

    ``score_bound`` is "lower" when the detector refused without its encoder and the
    score is the least the full detector would give (see ``InjectionVerdict.bound``).
    """
    await security_event(
        conn, contact_id=contact_id, kind="prompt_injection",
        severity="high" if verdict.action == "refuse" else "medium",
        detail={"message_id": message_id, "action": verdict.action, "score": verdict.score,
                "score_bound": verdict.bound, "rules": list(verdict.rules),
                "sample": mask_sample(text)},
        hooks=hooks)
