"""Export and erasure of one person's data, end to end."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from bot.contacts import erase_contact, export_contact, find_contact
from bot.db.pool import Database
from bot.models import InboundMessage
from tests.conftest import RuntimeFactory, wait_for


async def test_export_then_erase_round_trip(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
    db_url: str,
) -> None:
    async with runtime_factory() as rt:
        message = inbound(text="my email is ann@example.com")
        r = await rt.ingest(message)
        other = await rt.ingest(inbound(text="someone else"))

        async def answered() -> bool:  # both people, so each has a question and a reply
            for person in (r, other):
                async with db.as_user(person.contact_id) as conn:
                    cur = await conn.execute(
                        "SELECT 1 FROM app.messages WHERE direction = 'out'"
                        " AND status = 'sent' AND conversation_id = %s",
                        (person.conversation_id,))
                    if await cur.fetchone() is None:
                        return False
            return True
        await wait_for(answered)
    async with db.as_user(r.contact_id) as conn:
        await conn.execute("INSERT INTO app.user_context (contact_id, key, value, kind)"
                           " VALUES (%s, 'name', '\"Ann\"', 'fact')", (r.contact_id,))

    contact = await find_contact(db, "web", message.sender_id)
    assert contact == r.contact_id
    exported = await export_contact(db, contact, "test")
    assert [m["text"] for m in exported["messages"] if m["direction"] == "in"] == [message.text]
    assert exported["user_context"][0]["key"] == "name"
    assert all(row["contact_id"] == contact for row in exported["messages"])

    counts = await erase_contact(db, contact, "test")
    assert counts["contacts"] == 1 and counts["messages"] == 2
    assert await find_contact(db, "web", message.sender_id) is None
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM app.messages WHERE contact_id = %s",
                                 (contact,))
        assert (await cur.fetchone()) == (0,)
        cur = await conn.execute("SELECT count(*) FROM app.messages WHERE contact_id = %s",
                                 (other.contact_id,))
        assert (await cur.fetchone()) == (2,)
        cur = await conn.execute("SELECT detail FROM app.audit_log"
                                 " WHERE action = 'admin:erase_user' ORDER BY id DESC LIMIT 1")
        row = await cur.fetchone()
        assert row is not None and str(contact) not in str(row[0])


async def test_app_role_cannot_call_erase(
    runtime_factory: RuntimeFactory, inbound: Callable[..., InboundMessage], db: Database,
) -> None:
    async with runtime_factory(worker=False) as rt:
        r = await rt.ingest(inbound())
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(r.contact_id) as conn:
            await conn.execute("SELECT app.erase_contact(%s, 'me')", (r.contact_id,))
