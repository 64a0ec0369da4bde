"""Export everything held about one person, or erase it (operator commands)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bot.db.pool import Database
from bot.safety.audit import audit


async def find_contact(db: Database, channel: str, external_id: str) -> UUID | None:
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT app.find_contact(%s, %s) AS id", (channel, external_id))
        row = await cur.fetchone()
    return None if row is None or row["id"] is None else UUID(str(row["id"]))


async def export_contact(db: Database, contact_id: UUID, actor: str) -> dict[str, Any]:
    """Every row of the contact, table by table, read as that contact (RLS decides)."""
    data: dict[str, Any] = {"contact_id": str(contact_id)}
    async with db.as_user(contact_id) as conn:
        cur = await conn.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns"
            " WHERE table_schema = 'app' AND column_name IN ('contact_id')"
            " AND has_table_privilege(format('%I.%I', table_schema, table_name), 'SELECT')"
            " ORDER BY table_name")
        tables = [r["table_name"] for r in await cur.fetchall()]
        cur = await conn.execute("SELECT * FROM app.contacts")
        data["contacts"] = await cur.fetchall()
        for table in tables:
            cur = await conn.execute(f'SELECT * FROM app."{table}"')  # names from the catalog
            data[table] = await cur.fetchall()
        await audit(conn, contact_id=contact_id, actor=actor, action="admin:export_user",
                    detail={"tables": tables})
    return data


async def erase_contact(db: Database, contact_id: UUID, actor: str) -> dict[str, int]:
    """Delete the contact's data through the owner-privileged function; returns row counts."""
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT app.erase_contact(%s, %s) AS counts",
                                 (contact_id, actor))
        row = await cur.fetchone()
    assert row is not None
    return {str(k): int(v) for k, v in row["counts"].items()}
