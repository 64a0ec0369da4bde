"""What happens to a contact as a whole, each in one place: opting out of messages and back
in, exporting everything held about them, erasing it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bot.db import contacts
from bot.db.audit import audit
from bot.db.pool import Conn, Database, after_commit
from bot.hooks import EventHooks, EventType


async def set_opted_out(conn: Conn, contact_id: UUID, opted_out: bool, *, actor: str,
                        channel: str, hooks: EventHooks | None) -> None:
    """Opt a contact out of messages (STOP, the opt_out intent) or back in: the flag, its
    audit record and the hook event, on every path."""
    await contacts.set_opted_out_flag(conn, contact_id, opted_out)
    action = "opt_out" if opted_out else "opt_in"
    await audit(conn, contact_id=contact_id, actor=actor, action=action,
                detail={"channel": channel})
    if hooks is not None:
        event: EventType = "contact.opted_out" if opted_out else "contact.opted_in"
        after_commit(lambda: hooks.emit(event, channel=channel, contact_id=str(contact_id)))


async def find_contact(db: Database, channel: str, external_id: str) -> UUID | None:
    async with db.as_system() as conn:
        return await contacts.find(conn, channel, external_id)


async def export_contact(db: Database, contact_id: UUID, actor: str) -> dict[str, Any]:
    """Every row of the contact, table by table, read as that contact (RLS decides)."""
    async with db.as_user(contact_id) as conn:
        tables, rows = await contacts.rows_of(conn)
        await audit(conn, contact_id=contact_id, actor=actor, action="admin:export_user",
                    detail={"tables": tables})
    return {"contact_id": str(contact_id), **rows}


async def erase_contact(db: Database, contact_id: UUID, actor: str) -> dict[str, int]:
    """Delete the contact's data (the function leaves its own audit record); row counts."""
    async with db.as_system() as conn:
        return await contacts.erase(conn, contact_id, actor)
