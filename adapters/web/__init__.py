"""The web chat: a page at `/`, a JSON API and a streaming (SSE) variant."""

from adapters.web.adapter import WebChatAdapter
from adapters.web.inbound import CHANNEL, ChatRequest, ChatResponse, new_session_id, to_inbound

__all__ = ["CHANNEL", "ChatRequest", "ChatResponse", "WebChatAdapter", "new_session_id",
           "to_inbound"]
