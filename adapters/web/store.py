"""What the web chat reads and changes in the store: its conversations, stored replies,
history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.web.inbound import CHANNEL
from bot.db import messages
from bot.db.conversations import FoundConversation, close_conversation_session, find_conversation
from bot.db.pool import Database
from bot.models import IngestResult, OutboundReply

# messages sent into a conversation that have gone out (a reply still being written or
# delivered is announced when it is delivered)
_SENT = ("SELECT id, reply_to, text, rich, author FROM app.messages WHERE conversation_id = %s"
         " AND direction = 'out' AND status IN ('sent', 'delivered', 'read')")


class WebStore:
    def __init__(self, db: Database, session_ttl: timedelta) -> None:
        self.db = db
        self.session_ttl = session_ttl

    async def find(self, session_id: str) -> FoundConversation | None:
        return await find_conversation(self.db, CHANNEL, session_id)

    def expired(self, found: FoundConversation) -> bool:
        last = found.last_activity_at
        return last is not None and datetime.now(UTC) - last > self.session_ttl

    async def stored_reply(self, result: IngestResult) -> tuple[OutboundReply | None, str]:
        """The reply to an inbound message once it is stored, and the message's status."""
        async with self.db.as_user(result.contact_id) as conn:
            cur = await conn.execute(
                "SELECT i.status, o.rich, o.text FROM app.messages i"
                " LEFT JOIN app.messages o ON o.reply_to = i.id AND o.direction = 'out'"
                " WHERE i.id = %s ORDER BY o.reply_seq LIMIT 1",
                (result.message_id,),
            )
            row = await cur.fetchone()
        if row is None or (row["rich"] is None and row["text"] is None):
            # handed to a person: their answer comes later, through the conversation's feed
            return None, "queued" if row is not None and row["status"] == "relayed" else "pending"
        reply = (OutboundReply.model_validate(row["rich"]) if row["rich"]
                 else OutboundReply(text=row["text"]))
        return reply, str(row["status"])

    async def history(self, found: FoundConversation) -> list[dict[str, Any]]:
        async with self.db.as_user(found.contact_id) as conn:
            return await messages.history(conn, found.id, 500)

    async def close(self, found: FoundConversation) -> bool:
        async with self.db.as_user(found.contact_id) as conn:
            return await close_conversation_session(conn, found.id, "user_closed")

    async def sent(self, found: FoundConversation, message_id: int) -> dict[str, Any] | None:
        """One message sent into the conversation: its reply and who wrote it."""
        async with self.db.as_user(found.contact_id) as conn:
            cur = await conn.execute(_SENT + " AND id = %s", (found.id, message_id))
            return await cur.fetchone()

    async def sent_since(self, found: FoundConversation, after: int) -> list[dict[str, Any]]:
        """The messages sent into the conversation after message `after`, oldest first."""
        async with self.db.as_user(found.contact_id) as conn:
            cur = await conn.execute(_SENT + " AND id > %s ORDER BY id LIMIT 200",
                                     (found.id, after))
            return list(await cur.fetchall())

    async def find_for(self, session_id: str,
                       sender_id: str) -> tuple[FoundConversation | None, bool]:
        """The conversation of a session id and whether it is this sender's, in one round
        trip (every web chat request with a session asks)."""
        rows = await self.db.call_as_system(
            "SELECT f.*, f.contact_id = app.find_contact('web', %s) AS theirs"
            " FROM app.find_conversation('web', %s) f", (sender_id, session_id))
        if not rows:
            return None, False
        row = rows[0]
        found = FoundConversation(row["conversation_id"], row["contact_id"],
                                  row["last_activity_at"])
        return found, bool(row["theirs"])
