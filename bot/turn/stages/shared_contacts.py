"""A contact card shared in the chat reads to the bot as the person's name and numbers.

WhatsApp delivers a shared contact as a vCard attachment (Twilio: MessageType=contacts,
MediaContentType0=text/vcard); the message is stored with "[contact card]" in its text
before the card is fetched, so storing never waits on the platform. This stage fetches
each card through its channel (a `MediaSource`) and puts "[contact: Ana Lima, +55 11
91234 5678]" in the turn's text in its place; a card that cannot be fetched or read
stays "[contact card]".
"""

from __future__ import annotations

import structlog
import vobject

from bot.channels import Channels, MediaSource
from bot.channels.attachments import CONTACT_CARD, is_contact_card
from bot.turn.stage import Outcome, Turn

log = structlog.get_logger(__name__)
#: at most this many cards are fetched per turn (a forwarded address book is not a request)
MAX_CARDS = 5


def read_contact_card(data: bytes) -> str | None:
    """"[contact: name, number, …]" for each card in a vCard file; None if none is readable."""
    try:
        cards = list(vobject.readComponents(data.decode("utf-8", errors="replace")))
    except Exception:  # untrusted text: any parse failure means "not readable"
        return None
    lines = []
    for card in cards:
        name = str(card.fn.value).strip() if hasattr(card, "fn") else ""
        numbers = [str(tel.value).strip() for tel in card.contents.get("tel", [])]
        fields = [x for x in (name, *numbers) if x]
        if fields:
            lines.append(f"[contact: {', '.join(fields)}]")
    return "\n".join(lines) or None


class SharedContacts:
    def __init__(self, channels: Channels) -> None:
        self.channels = channels

    async def run(self, turn: Turn) -> Outcome | None:
        cards = [m for message in turn.batch for m in message.media if is_contact_card(m)]
        source = self.channels.get(turn.last.channel)
        if not cards or not isinstance(source, MediaSource):
            return None
        readable: list[str | None] = []
        for card in cards[:MAX_CARDS]:
            try:
                readable.append(read_contact_card(await source.download_media(card.url)))
            except Exception as exc:  # the platform's failure: the placeholder stays
                log.info("contact_card_not_fetched", error=type(exc).__name__)
                readable.append(None)
        pieces = turn.raw_text.split(CONTACT_CARD)
        text = pieces[0]
        for n, rest in enumerate(pieces[1:]):
            found = readable[n] if n < len(readable) else None
            text += (found or CONTACT_CARD) + rest
        turn.raw_text = text
        turn.notes["contact_cards"] = sum(x is not None for x in readable)
        return None
