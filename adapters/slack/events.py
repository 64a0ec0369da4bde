"""Pure conversions of Slack events and button clicks into the common inbound form.

Conversation keys are `team:channel` (a direct-message channel),
`team:channel:thread_ts` (a thread in a direct-message channel, such as an assistant
thread) or `team:channel:thread_ts:user` (a thread in a channel). A conversation
belongs to one contact (its rows are that person's under row-level security), so
each person taking part in a channel thread has their own conversation there; the
replies all go into the same thread.
The inbound id is `team:channel:ts`, the same for the `app_mention` and the
`message.channels` event of one message and for every retry of either, so the
messages table's unique index stores each Slack message once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bot.channels.attachments import with_attachments
from bot.models import InboundMessage, Media

CHANNEL = "slack"
#: message subtypes that are still a person writing to the bot
_USER_SUBTYPES = frozenset({"file_share", "thread_broadcast"})

MessageKind = Literal["mention", "dm", "thread", "ignore"]


@dataclass(frozen=True)
class ConversationRef:
    """Where a conversation lives in Slack (and, in a channel thread, whose it is)."""

    team: str
    channel: str
    thread_ts: str | None
    user: str | None = None

    @property
    def thread_key(self) -> str:
        return ":".join([self.team, self.channel] + ([self.thread_ts] if self.thread_ts else []))

    @property
    def key(self) -> str:
        if self.thread_ts and self.user:
            return f"{self.thread_key}:{self.user}"
        return self.thread_key


def parse_key(key: str) -> ConversationRef:
    team, channel, *rest = key.split(":", 3)
    return ConversationRef(team, channel, rest[0] if rest else None,
                           rest[1] if len(rest) > 1 else None)


def is_dm(channel: str, channel_type: str | None = None) -> bool:
    return channel_type == "im" or (channel_type is None and channel.startswith("D"))


def message_ref(team: str, event: dict[str, Any]) -> ConversationRef:
    """The conversation an `app_mention` or `message` event belongs to."""
    channel = str(event["channel"])
    thread_ts = event.get("thread_ts")
    if event.get("channel_type") == "im":
        return ConversationRef(team, channel, thread_ts)
    return ConversationRef(team, channel, thread_ts or event["ts"], str(event["user"]))


#: Slack's ids: an upper-case letter, then upper-case letters and digits
_SLACK_ID = re.compile(r"[A-Z][A-Z0-9]{1,40}")
_SLACK_TS = re.compile(r"\d{1,12}\.\d{1,9}")


def _ids_are_slacks(event: dict[str, Any]) -> bool:
    """The fields a conversation is built from have the shape Slack gives them (a signed
    event with `channel: {"a": 1}` once made the bot post to channel "{'a'")."""
    channel, user, ts = event.get("channel"), event.get("user"), event.get("ts")
    thread = event.get("thread_ts")
    return (isinstance(channel, str) and bool(_SLACK_ID.fullmatch(channel))
            and (user is None or (isinstance(user, str) and bool(_SLACK_ID.fullmatch(user))))
            and (ts is None or (isinstance(ts, str) and bool(_SLACK_TS.fullmatch(ts))))
            and (thread is None or (isinstance(thread, str) and bool(_SLACK_TS.fullmatch(thread))))
            and isinstance(event.get("text", ""), str | None))


def classify(event: dict[str, Any], *, bot_user_id: str | None, bot_id: str | None,
             ignore_bots: bool) -> MessageKind:
    """What an event is to the bot, before any database lookup."""
    if not _ids_are_slacks(event):
        return "ignore"  # never from Slack: a channel or user that is not an id
    subtype = event.get("subtype")
    if subtype and subtype not in _USER_SUBTYPES:
        return "ignore"  # edits, deletions, joins, bot_message, channel topics…
    if event.get("edited") or not event.get("user") or not event.get("ts"):
        return "ignore"
    if event.get("user") == bot_user_id or (bot_id and event.get("bot_id") == bot_id):
        return "ignore"
    if event.get("bot_id") and ignore_bots:
        return "ignore"
    if event.get("type") == "app_mention":
        return "mention"
    if event.get("channel_type") == "im":
        return "dm"
    if bot_user_id and f"<@{bot_user_id}>" in str(event.get("text", "")):
        return "ignore"  # its app_mention event carries it
    if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        return "thread"  # taken only when the bot is already in that thread
    return "ignore"


def _received_at(ts: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except ValueError:
        return datetime.now(UTC)


def strip_mention(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", "")
    return text.strip()


def event_to_inbound(team: str, event: dict[str, Any], *, event_id: str | None,
                     bot_user_id: str | None, sender_name: str | None) -> InboundMessage:
    """A user's Slack message as an inbound message."""
    ref = message_ref(team, event)
    listed = event.get("files")
    files = [Media(url=f["url_private"], content_type=str(f.get("mimetype") or
                                                          "application/octet-stream"),
                   caption=f.get("name") if isinstance(f.get("name"), str) else None)
             for f in (listed if isinstance(listed, list) else [])
             if isinstance(f, dict) and isinstance(f.get("url_private"), str)]
    return InboundMessage(
        channel=CHANNEL,
        external_id=f"{team}:{ref.channel}:{event['ts']}",
        sender_id=f"{team}:{event['user']}",
        sender_name=sender_name,
        conversation_key=ref.key,
        # a file-only message reads like one on WhatsApp ("[image: image/png, x.png]")
        text=with_attachments(strip_mention(event.get("text") or "", bot_user_id), files),
        media=files,
        received_at=_received_at(str(event["ts"])),
        raw={"event_id": event_id, "type": event.get("type"), "ts": event["ts"],
             "conversation_key": ref.key},
    )


def chosen(action: dict[str, Any]) -> tuple[str, str] | None:
    """(title, payload) of a clicked button or a picked select option."""
    if action.get("type") == "button":
        return str(action.get("text", {}).get("text", "")), str(action.get("value", ""))
    option = action.get("selected_option")
    if isinstance(option, dict):
        return str(option.get("text", {}).get("text", "")), str(option.get("value", ""))
    return None


def action_to_inbound(body: dict[str, Any], sender_name: str | None = None
                      ) -> InboundMessage | None:
    """A `block_actions` click on one of the bot's messages, as an inbound message."""
    actions = body.get("actions") or []
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id")
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    user = (body.get("user") or {}).get("id")
    if not actions or not channel or not team or not user or not message.get("ts"):
        return None
    picked = chosen(actions[0])
    if picked is None:
        return None
    title, payload = picked
    thread_ts = message.get("thread_ts") or (body.get("container") or {}).get("thread_ts")
    in_channel_thread = thread_ts and not is_dm(str(channel))
    ref = ConversationRef(str(team), str(channel), thread_ts,
                          str(user) if in_channel_thread else None)
    action_ts = actions[0].get("action_ts") or body.get("trigger_id") or ""
    return InboundMessage(
        channel=CHANNEL,
        external_id=f"{team}:{channel}:{message['ts']}:action:{action_ts}",
        sender_id=f"{team}:{user}",
        sender_name=sender_name,
        conversation_key=ref.key,
        text=title,
        payload=payload,
        raw={"type": "block_actions", "message_ts": message["ts"], "action_ts": action_ts,
             "conversation_key": ref.key},
    )
