"""How attachments read in a message's text, the same on every channel.

An attachment-only message still reads as something to the bot ("[image: image/jpeg]"),
and to staff in the transcript; a shared contact card reads as "[contact card]" until the
turn has read the card (`bot/turn/stages/shared_contacts.py`).
"""

from __future__ import annotations

from bot.models import Location, Media

#: content types of a contact card (vCard: RFC 6350 and its older names)
CONTACT_CARD_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory"})
CONTACT_CARD = "[contact card]"


def is_contact_card(media: Media) -> bool:
    return media.content_type.split(";", 1)[0].strip().lower() in CONTACT_CARD_TYPES


def describe_media(media: Media) -> str:
    """How an attachment reads, e.g. "[image: image/jpeg]" or "[document: application/pdf,
    report.pdf]" when it has a name."""
    if is_contact_card(media):
        return CONTACT_CARD
    kind = media.content_type.split("/", 1)[0] if "/" in media.content_type else "file"
    kind = {"application": "document", "text": "document"}.get(kind, kind)
    named = f", {media.caption}" if media.caption else ""
    return f"[{kind}: {media.content_type}{named}]"


def describe_location(location: Location) -> str:
    named = ", ".join(x for x in (location.label, location.address) if x)
    where = f"{location.latitude}, {location.longitude}"
    return f"[location: {named} ({where})]" if named else f"[location: {where}]"


def with_attachments(text: str, media: list[Media], location: Location | None = None) -> str:
    """A message's text followed by a line for each attachment (and its location)."""
    lines = [text, *(describe_media(m) for m in media)]
    if location is not None:
        lines.append(describe_location(location))
    return "\n".join(line for line in lines if line)
