"""A web chat request and its conversion into the common message form (pure).

The web "session id" is the conversation key, kept by the page in localStorage; the
identity (adapters/web/identity.py) is a verified user of the embedding website or the
visitor of a cookie, so "New conversation" keeps what the bot knows about the person.
"""

from __future__ import annotations

import secrets
from uuid import uuid4

from pydantic import BaseModel, Field

from bot.models import InboundMessage, OutboundReply

CHANNEL = "web"
_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


class ChatRequest(BaseModel):
    """One message from the web chat."""

    text: str = Field(default="", max_length=100_000)
    session_id: str | None = Field(default=None, pattern=_ID_PATTERN)
    user: str | None = Field(default=None, pattern=_ID_PATTERN,
                             description="The embedding website's user id (needs user_hash)")
    user_hash: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$",
                                  description="hex HMAC-SHA256(WEB_IDENTITY_SECRET, user)")
    payload: str | None = Field(default=None, max_length=2000)
    message_id: str | None = Field(default=None, pattern=_ID_PATTERN,
                                   description="Client idempotency key; a retry with the same "
                                               "id is answered once")


class ChatResponse(BaseModel):
    """The stored reply to a web chat message (None while it is still being worked on)."""

    session_id: str
    message_id: int
    reply: OutboundReply | None
    status: str


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def to_inbound(request: ChatRequest, session_id: str, sender_id: str) -> InboundMessage:
    """Pure conversion of a chat request into the common form. The client's idempotency
    key is its own: another identity reusing it is a different message."""
    return InboundMessage(
        channel=CHANNEL,
        external_id=(f"{sender_id}:{request.message_id}" if request.message_id
                     else uuid4().hex),
        sender_id=sender_id,
        conversation_key=session_id,
        text=request.text,
        payload=request.payload,
        raw={"session_id": session_id},
    )
