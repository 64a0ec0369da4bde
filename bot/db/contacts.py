"""Contacts: the people the bot talks to (their SQL; `bot.contacts` pairs each change
with its audit record and hook event)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from bot.db.pool import Conn, Database


async def set_opted_out_flag(conn: Conn, contact_id: UUID, opted_out: bool) -> None:
    await conn.execute("UPDATE app.contacts SET opted_out = %s WHERE id = %s",
                       (opted_out, contact_id))


async def find(conn: Conn, channel: str, external_id: str) -> UUID | None:
    """The contact with this identity on a channel (owner-privileged function)."""
    cur = await conn.execute("SELECT app.find_contact(%s, %s) AS id", (channel, external_id))
    row = await cur.fetchone()
    return None if row is None or row["id"] is None else UUID(str(row["id"]))


async def rows_of(conn: Conn) -> tuple[list[str], dict[str, Any]]:
    """Every row the acting contact may read, table by table (RLS decides which): the
    tables with a contact, and the rows of those and of `contacts`."""
    cur = await conn.execute(
        "SELECT DISTINCT table_name FROM information_schema.columns"
        " WHERE table_schema = 'app' AND column_name IN ('contact_id')"
        " AND has_table_privilege(format('%I.%I', table_schema, table_name), 'SELECT')"
        " ORDER BY table_name")
    tables = [r["table_name"] for r in await cur.fetchall()]
    data: dict[str, Any] = {}
    cur = await conn.execute("SELECT * FROM app.contacts")
    data["contacts"] = await cur.fetchall()
    for table in tables:
        cur = await conn.execute(f'SELECT * FROM app."{table}"')  # names from the catalog
        data[table] = await cur.fetchall()
    return tables, data


async def erase(conn: Conn, contact_id: UUID, actor: str) -> dict[str, int]:
    """Delete the contact's data through the owner-privileged function; row counts."""
    cur = await conn.execute("SELECT app.erase_contact(%s, %s) AS counts", (contact_id, actor))
    row = await cur.fetchone()
    assert row is not None
    return {str(k): int(v) for k, v in row["counts"].items()}


async def purge_expired_context(db: Database, now: datetime | None = None) -> int:
    """Delete remembered facts past their expiry (`app.purge_expired` also writes an audit
    record); each worker runs it every PURGE_EXPIRED_INTERVAL_S."""
    async with db.as_system() as conn:
        cur = await conn.execute("SELECT app.purge_expired(coalesce(%s, now())) AS n", (now,))
        row = await cur.fetchone()
    return int(row["n"]) if row is not None else 0


async def purge_old_messages(db: Database, before: datetime) -> int:
    """Delete settled messages created before `before` (RETENTION_DAYS), in batches; the
    audit log is kept. Returns how many went."""
    total = 0
    while True:
        async with db.as_system() as conn:
            cur = await conn.execute("SELECT app.purge_old_messages(%s) AS n", (before,))
            row = await cur.fetchone()
        deleted = int(row["n"]) if row is not None else 0
        total += deleted
        if deleted == 0:
            return total


async def purge_old_data(db: Database, retention_days: int | None,
                         now: datetime | None = None) -> int:
    """Expired remembered facts, and messages older than `retention_days` when set (each
    worker's recovery pass, every PURGE_EXPIRED_INTERVAL_S); how many messages went."""
    await purge_expired_context(db, now)
    if retention_days is None:
        return 0
    return await purge_old_messages(db, (now or datetime.now(UTC)) - timedelta(days=retention_days))
