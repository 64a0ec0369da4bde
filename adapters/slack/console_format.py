"""Pure rendering for the Slack support console: the handoff card, thread lines, and
staff messages turned back into plain Markdown for the customer's channel."""

from __future__ import annotations

import html
import re
from typing import Any

from adapters.slack.format import MAX_SECTION_TEXT, SlackMessage, escape
from bot.handoff.console import HandoffView
from bot.pii import mask_pii

ACTION_PREFIX = "handoff:"
CLAIM = f"{ACTION_PREFIX}claim"
RESOLVE = f"{ACTION_PREFIX}resolve"
BACK = f"{ACTION_PREFIX}back"
MAX_HEADER = 150
MAX_LINE = 3900  # a thread line; Slack truncates `text` only at 40,000

CHANNEL_LABELS = {"whatsapp": "WhatsApp", "web": "Web chat", "slack": "Slack"}
Block = dict[str, Any]


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel.capitalize() or "unknown channel")


def customer_name(view: HandoffView) -> str:
    """The display name staff see; a phone number used as a name is masked."""
    return mask_pii(view.display_name.strip() or "Customer")


def status_text(view: HandoffView) -> str:
    staff = escape(view.staff or "")
    if view.status == "waiting":
        return ":hourglass_flowing_sand: Waiting for a person"
    if view.status == "claimed":
        return f":raising_hand: Claimed by *{staff}*"
    if view.status == "resolved":
        return f":white_check_mark: Resolved by *{staff}*"
    return ":robot_face: Back with the bot" + (f" ({staff})" if staff else "")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "action_id": action_id, "value": value,
                     "text": {"type": "plain_text", "text": text}}
    if style:
        button["style"] = style
    return button


def buttons(view: HandoffView) -> list[Block]:
    """Claim / Resolve / Back to bot while open; none once it is closed."""
    value = str(view.id)
    elements: list[Block] = []
    if view.status == "waiting":
        elements.append(_button("Claim", CLAIM, value, "primary"))
    if view.status in ("waiting", "claimed"):
        elements += [_button("Resolve", RESOLVE, value), _button("Back to bot", BACK, value)]
    return [{"type": "actions", "block_id": "handoff_actions", "elements": elements}
            ] if elements else []


def handoff_card(view: HandoffView, note_prefix: str) -> SlackMessage:
    """The one message per handoff in the support channel; its thread is the conversation."""
    name, label = customer_name(view), channel_label(view.channel)
    fields = [("Customer", escape(name)), ("Channel", label),
              ("Reason", escape(view.reason or view.trigger)), ("Status", status_text(view))]
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text",
                                    "text": _clip(f"{name} needs a person", MAX_HEADER)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"}
                                       for k, v in fields]},
    ]
    if view.summary.strip():
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(
            "*Summary*\n" + escape(view.summary), MAX_SECTION_TEXT)}})
    if view.recent:
        lines = "\n".join(f"> {escape(line)}" for line in view.recent)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(
            "*Latest messages*\n" + lines, MAX_SECTION_TEXT)}})
    open_now = view.status in ("waiting", "claimed")
    hint = (f"Reply in this thread to answer on {label}; start with `{escape(note_prefix)}` "
            "for an internal note." if open_now else "This handoff is closed.")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": hint}]})
    blocks += buttons(view)
    text = f"{name} ({label}) needs a person: {view.reason or view.trigger}"
    return SlackMessage(text=_clip(escape(text), MAX_HEADER * 2), blocks=blocks)


def mirror_line(author: str, text: str) -> str:
    """A customer message as a thread line; their text can never ping anyone."""
    return _clip(f"*{escape(mask_pii(author))}:* {escape(text)}", MAX_LINE)


def notice_line(text: str, mention: str = "") -> str:
    """A status line; the configured mention (e.g. <!subteam^S1>) is kept as a mention."""
    parts = text.split(mention) if mention else [text]
    return _clip(":information_source: " + mention.join(escape(p) for p in parts), MAX_LINE)


_ENTITY = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def staff_text(mrkdwn: str) -> str:
    """A staff message as typed in Slack, as plain Markdown for the customer.

    Slack sends links as <url|label>, mentions as <@U…>, and escapes & < >; a customer
    on WhatsApp or the web chat must see none of that markup or any internal id.
    """
    def entity(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "!")):
            return label or ""
        if target.startswith("#"):
            return f"#{label}" if label else ""
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        return f"[{label}]({target})" if label and label != target else target

    plain = html.unescape(_ENTITY.sub(entity, mrkdwn))
    return re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", plain).strip()  # where a mention was
