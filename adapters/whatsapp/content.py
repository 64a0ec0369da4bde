"""An `OutboundReply` as the WhatsApp messages that carry it, in order (pure).

Rich parts use Twilio's Content API when it is enabled and the part fits
WhatsApp's limits; otherwise they become a numbered text menu, and the pipeline
maps a reply of just the number (or an option's title) back to its payload.
Content templates are described by their shape (types JSON with the body as
variable {{1}}); the adapter creates each shape once and caches its SID by hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from adapters.whatsapp.format import split_message, to_whatsapp
from bot.models import Card, Carousel, MediaPart, Option, OutboundReply, PickList, QuickReplies

# WhatsApp's limits for interactive session messages (Twilio Content API docs).
BODY_MAX = 1024
QUICK_REPLY_MAX_BUTTONS = 3
QUICK_REPLY_TITLE_MAX = 20
OPTION_ID_MAX = 200
LIST_MAX_ITEMS = 10
LIST_ITEM_MAX = 24
LIST_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
CARD_BUTTONS_MAX = 3
CARD_BUTTON_TITLE_MAX = 25
CAROUSEL_MAX_CARDS = 10
CAROUSEL_CARD_TEXT_MAX = 160
CAROUSEL_BUTTONS_MAX = 2
CHOOSE_PROMPT = "Please choose:"
MENU_HINT = "Reply with the number of your choice."


@dataclass(frozen=True)
class ContentShape:
    """A Content API template: its `types` document and default variables."""

    types: dict[str, Any]
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A stable hash of the shape, the template cache key."""
        canonical = json.dumps(self.types, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def kind(self) -> str:
        return next(iter(self.types))


@dataclass(frozen=True)
class WhatsAppMessage:
    """One message to send: plain body, media with caption, or a content template
    (a shape the adapter creates once, or an existing template's SID)."""

    body: str = ""
    media_url: str | None = None
    content: ContentShape | None = None
    content_variables: dict[str, str] = field(default_factory=dict)
    template_sid: str | None = None


def _fits_ids(options: list[Option]) -> bool:
    return all(0 < len(o.payload) <= OPTION_ID_MAX for o in options)


def quick_reply_shape(options: list[Option]) -> ContentShape | None:
    if not (0 < len(options) <= QUICK_REPLY_MAX_BUTTONS and _fits_ids(options)
            and all(0 < len(o.title) <= QUICK_REPLY_TITLE_MAX for o in options)):
        return None
    actions = [{"title": o.title, "id": o.payload} for o in options]
    return ContentShape({"twilio/quick-reply": {"body": "{{1}}", "actions": actions}},
                        {"1": CHOOSE_PROMPT})


def list_picker_shape(options: list[Option], button: str) -> ContentShape | None:
    if not (0 < len(options) <= LIST_MAX_ITEMS and _fits_ids(options)
            and 0 < len(button) <= LIST_BUTTON_MAX
            and all(0 < len(o.title) <= LIST_ITEM_MAX
                    and len(o.description or "") <= LIST_DESCRIPTION_MAX for o in options)):
        return None
    items = [{"id": o.payload, "item": o.title, "description": o.description or ""}
             for o in options]
    return ContentShape({"twilio/list-picker": {"body": "{{1}}", "button": button,
                                                "items": items}}, {"1": CHOOSE_PROMPT})


def _card_actions(buttons: list[Option], most: int) -> list[dict[str, str]] | None:
    if len(buttons) > most or not _fits_ids(buttons) or not all(
            0 < len(b.title) <= CARD_BUTTON_TITLE_MAX for b in buttons):
        return None
    return [{"type": "QUICK_REPLY", "title": b.title, "id": b.payload} for b in buttons]


def card_shape(card: Card) -> ContentShape | None:
    actions = _card_actions(card.buttons, CARD_BUTTONS_MAX)
    if actions is None or not card.title or len(card.title) > BODY_MAX:
        return None
    doc: dict[str, Any] = {"title": card.title, "actions": actions}
    if card.body:
        doc["subtitle"] = card.body
    if card.image_url:
        doc["media"] = [card.image_url]
    return ContentShape({"twilio/card": doc})


def carousel_shape(carousel: Carousel) -> ContentShape | None:
    cards = carousel.cards
    if not 0 < len(cards) <= CAROUSEL_MAX_CARDS:
        return None
    counts = {len(c.buttons) for c in cards}
    if len(counts) != 1 or not 0 < counts.pop() <= CAROUSEL_BUTTONS_MAX:
        return None
    docs = []
    for card in cards:
        actions = _card_actions(card.buttons, CAROUSEL_BUTTONS_MAX)
        if (actions is None or not card.image_url
                or len(card.title) + len(card.body) > CAROUSEL_CARD_TEXT_MAX):
            return None
        docs.append({"title": card.title, "body": card.body, "media": card.image_url,
                     "actions": actions})
    return ContentShape({"twilio/carousel": {"body": "{{1}}", "cards": docs}},
                        {"1": CHOOSE_PROMPT})


def rich_shape(part: QuickReplies | PickList | Card | Carousel) -> ContentShape | None:
    """The Content API template for a rich part, or None when it exceeds the limits."""
    if isinstance(part, QuickReplies):
        return quick_reply_shape(part.options) or list_picker_shape(part.options, "Options")
    if isinstance(part, PickList):
        return list_picker_shape(part.options, part.button)
    if isinstance(part, Card):
        return card_shape(part)
    return carousel_shape(part)


def text_menu(reply: OutboundReply) -> str:
    """Every option of the reply as a numbered list, numbered like `reply.options()`."""
    lines = []
    for number, option in enumerate(reply.options(), start=1):
        extra = f" — {option.description}" if option.description else ""
        lines.append(f"{number}. {option.title}{extra}")
    return "\n".join([*lines, MENU_HINT]) if lines else ""


def _card_text(card: Card) -> str:
    return "\n".join(x for x in (f"*{card.title}*" if card.title else "",
                                 to_whatsapp(card.body)) if x)


def plan_messages(reply: OutboundReply, *, content_api: bool,
                  max_chars: int) -> list[WhatsAppMessage]:
    """The messages for one reply, in sending order; none is empty or over `max_chars`.

    Order: the text, attachments (and card images), the numbered menu when any
    part fell back to text, then interactive content messages.
    """
    text = to_whatsapp(reply.text)
    texts: list[str] = []
    media: list[WhatsAppMessage] = []
    rich: list[WhatsAppMessage] = []
    needs_menu = False
    for part in reply.parts:
        if isinstance(part, MediaPart):
            media.append(WhatsAppMessage(body=part.media.caption or "", media_url=part.media.url))
            continue
        shape = rich_shape(part) if content_api else None
        if shape is not None:
            rich.append(WhatsAppMessage(content=shape, content_variables=dict(shape.variables)))
            continue
        needs_menu = True
        cards = [part] if isinstance(part, Card) else (
            part.cards if isinstance(part, Carousel) else [])
        for card in cards:
            if card.image_url:
                media.append(WhatsAppMessage(body=_card_text(card)[:max_chars],
                                             media_url=card.image_url))
            else:
                texts.append(_card_text(card))
    first = rich[0] if rich else None
    if (first is not None and first.content is not None and "1" in first.content.variables
            and text and len(text) <= BODY_MAX and not texts and not needs_menu):
        # the reply text rides in the first interactive message's body
        rich[0] = WhatsAppMessage(content=first.content, content_variables={"1": text})
        text = ""
    plain = split_message("\n\n".join(t for t in [text, *texts] if t), max_chars)
    menu = split_message(text_menu(reply), max_chars) if needs_menu else []
    return ([WhatsAppMessage(body=p) for p in plain] + media
            + [WhatsAppMessage(body=p) for p in menu] + rich)
