"""Database look-ups shared by the studio conversation tests (read as the owner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from bot.db.pool import Database

ROOT = Path(__file__).resolve().parents[3]
STUDIO_BOT = ROOT / "bots/studio/bot.yaml"


async def contact_of(db: Database, message_id: int | None) -> UUID:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT contact_id FROM app.messages WHERE id = %s",
                                 (message_id,))
        row = await cur.fetchone()
    assert row is not None
    contact: UUID = row["contact_id"]
    return contact


async def bookings_of(db: Database, contact: UUID) -> list[dict[str, Any]]:
    async with db.as_system() as conn:
        cur = await conn.execute(
            "SELECT b.id, b.class_id, b.status, c.title, c.starts_at FROM app.studio_bookings b"
            " JOIN app.studio_classes c ON c.id = b.class_id WHERE b.contact_id = %s"
            " ORDER BY b.id", (contact,))
        return list(await cur.fetchall())


async def handoffs_of(db: Database, contact: UUID) -> list[dict[str, Any]]:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT status, trigger, intent FROM app.handoffs"
                                 " WHERE contact_id = %s", (contact,))
        return list(await cur.fetchall())


async def classes_by_id(db: Database, ids: list[int]) -> list[dict[str, Any]]:
    async with db.as_system() as conn:
        cur = await conn.execute(
            "SELECT id, class_type, title, starts_at FROM app.studio_classes"
            " WHERE id = ANY(%s) ORDER BY starts_at", (ids,))
        return list(await cur.fetchall())


async def classes_on(db: Database, class_type: str, day: Any, tz: Any) -> list[int]:
    """Ids of the classes of a type on a local day that have not started."""
    async with db.as_system() as conn:
        cur = await conn.execute(
            "SELECT id FROM app.studio_classes WHERE class_type = %s AND starts_at > now()"
            " AND (starts_at AT TIME ZONE %s)::date = %s ORDER BY starts_at",
            (class_type, str(tz), day))
        return [r["id"] for r in await cur.fetchall()]
