"""PostgreSQL NOTIFY of turn events and conversation notices: the statement and its
parameters, so a notice can ride on a unit of work already going to the server (sent when,
and only if, it commits). `bot.outbound.events.EventHub` listens and fans them out."""

from __future__ import annotations

from bot.models import ConversationNotice, StreamEvent

CHANNEL = "bot_events"
CONVERSATIONS = "bot_conversations"
_MAX_PAYLOAD = 7900  # NOTIFY payloads must stay under 8000 bytes


NOTIFY_SQL = "SELECT pg_notify(%s, %s)"


def notify_params(event: StreamEvent) -> tuple[str, str]:
    """`NOTIFY_SQL`'s parameters: a statement that can join a unit of work already going
    to the server, so the event costs no round trip of its own and, inside a
    transaction, is sent when (and only if) it commits."""
    payload = event.model_dump_json()
    if len(payload.encode()) > _MAX_PAYLOAD:
        # Large payloads (a long final reply) are announced; waiters read the database.
        payload = StreamEvent(message_id=event.message_id, event=event.event,
                              data={"truncated": True}).model_dump_json()
    return CHANNEL, payload


def notice_params(notice: ConversationNotice) -> tuple[str, str]:
    """`NOTIFY_SQL`'s parameters announcing what happened in a conversation (small:
    followers read a message itself from the database)."""
    return CONVERSATIONS, notice.model_dump_json()
