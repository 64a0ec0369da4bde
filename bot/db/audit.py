"""The audit log: insert-only records of prompts, tool calls, security events, state changes
and operator actions."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from bot.db.pool import Conn


async def audit(conn: Conn, *, contact_id: UUID | None, actor: str, action: str,
                detail: dict[str, Any]) -> None:
    """Append one record (inside the caller's unit of work)."""
    await conn.execute(
        "INSERT INTO app.audit_log (contact_id, actor, action, detail) VALUES (%s, %s, %s, %s)",
        (contact_id, actor, action, json.dumps(detail, default=str)),
    )
