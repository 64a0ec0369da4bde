"""Twilio's WhatsApp webhooks → the common form: form decoding, the public URL, parsing.

All pure: the routes in `adapters/whatsapp.py` only glue these to HTTP.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from bot.channels.attachments import with_attachments
from bot.models import InboundMessage, Location, Media

CHANNEL = "whatsapp"
_PREFIX = "whatsapp:"


class MalformedForm(ValueError):
    """The body is not a form Twilio could have sent (bad encoding, repeated fields)."""


class TwilioForm(dict[str, str]):
    """A webhook's decoded form, whose fields never repeat.

    It answers `getall`, the MultiDict method Twilio's `RequestValidator` tries first
    for every field of every signature it computes: a plain dict makes it fall back
    through an AttributeError each time, more than half of the validator's cost. With
    the one-pass decoder and the one-HMAC check (adapters/whatsapp/adapter.py) it is kept
    because Twilio's validator over the standard library's parser cost 11 % of ingestion
    capacity (docs/internals.md, "Bypasses")."""

    def getall(self, key: str) -> list[str]:
        return [self[key]]


def decode_form(body: bytes) -> TwilioForm:
    """Strictly decode an application/x-www-form-urlencoded body as UTF-8.

    What `parse_qsl(..., keep_blank_values=True, errors="strict")` returns, in one pass
    that also refuses a repeated field (half the cost of the two, per webhook)."""
    form = TwilioForm()
    try:
        for pair in body.decode("utf-8").split("&"):
            if not pair:
                continue
            key, _, value = pair.partition("=")
            key = unquote_plus(key, errors="strict")
            if key in form:
                raise MalformedForm(f"field {key!r} repeated")
            form[key] = unquote_plus(value, errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedForm("form is not UTF-8") from exc
    return form


@dataclass(frozen=True)
class RequestOrigin:
    """What the server saw of a request: scheme, host, path, query, peer and proxy headers."""

    scheme: str
    host: str
    path: str
    query: str
    peer: str | None
    forwarded_proto: str | None = None
    forwarded_host: str | None = None


def is_trusted(peer: str | None, trusted: list[str]) -> bool:
    """Whether the direct peer is one of the configured proxies (addresses or networks)."""
    if not peer or not trusted:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if address in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def public_url(origin: RequestOrigin, *, base_url: str | None, trusted: list[str]) -> str:
    """The URL Twilio called, which is what it signed.

    `base_url` (PUBLIC_BASE_URL) wins; otherwise X-Forwarded-Proto/-Host count only
    when the direct peer is a trusted proxy, so nobody else can choose the URL that
    is checked.
    """
    if base_url:
        base = urlsplit(base_url.rstrip("/"))
        return urlunsplit((base.scheme, base.netloc, base.path + origin.path, origin.query, ""))
    scheme, host = origin.scheme, origin.host
    if is_trusted(origin.peer, trusted):
        if origin.forwarded_proto:
            scheme = origin.forwarded_proto.split(",")[0].strip().lower()
        if origin.forwarded_host:
            host = origin.forwarded_host.split(",")[0].strip()
    return urlunsplit((scheme, host, origin.path, origin.query, ""))


def _media(form: Mapping[str, str]) -> list[Media]:
    try:
        count = max(0, min(int(form.get("NumMedia", "0") or 0), 20))
    except ValueError:
        count = 0
    found = []
    for i in range(count):
        url = form.get(f"MediaUrl{i}")
        if url:
            found.append(Media(url=url, content_type=form.get(f"MediaContentType{i}")
                               or "application/octet-stream"))
    return found


def _location(form: Mapping[str, str]) -> Location | None:
    try:
        latitude, longitude = float(form["Latitude"]), float(form["Longitude"])
    except (KeyError, ValueError):
        return None
    return Location(latitude=latitude, longitude=longitude,
                    address=form.get("Address") or None, label=form.get("Label") or None)


def to_inbound(form: Mapping[str, str]) -> InboundMessage:
    """Parse one incoming-message webhook; unknown fields are kept in `raw` only.

    Attachments and locations are described in the text, so a media-only message
    still reads as something to the bot. Raises ValueError without a sender or id.
    """
    sender = form.get("From", "")
    wa_id = form.get("WaId") or sender.removeprefix(_PREFIX)
    message_sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    media = _media(form)
    location = _location(form)
    text = with_attachments(form.get("Body", ""), media, location)
    return InboundMessage(
        channel=CHANNEL,
        external_id=message_sid,
        sender_id=wa_id,
        sender_name=form.get("ProfileName") or None,
        conversation_key=wa_id,
        text=text,
        media=media,
        payload=form.get("ButtonPayload") or None,
        location=location,
        reply_to_external_id=form.get("OriginalRepliedMessageSid") or None,
        raw={key: value for key, value in form.items() if key != "Body"},
    )


#: SmsStatus of a customer's message; any other status is a delivery report
_INBOUND_STATUSES = frozenset({"received", "receiving"})


@dataclass(frozen=True)
class StatusReport:
    """A delivery status callback: which message, its new status, Twilio's error."""

    sid: str | None
    status: str
    error: str | None


def status_report(form: Mapping[str, str], *, sender: str | None = None) -> StatusReport | None:
    """The delivery status a form reports, or None for a customer's message.

    Status callbacks are recognised on either webhook URL: pointing the status callback at
    the incoming URL is an easy mistake in Twilio's console, and each status would
    otherwise be stored as an empty message from the bot's own number. A form from the
    bot's own sender (`sender`) is never a customer's message either.
    """
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    from_us = sender is not None and form.get("From") == sender
    if (not status or status in _INBOUND_STATUSES) and not from_us:
        return None
    error = None
    if form.get("ErrorCode"):
        error = f"twilio {form['ErrorCode']}: {form.get('ErrorMessage') or status}"
    return StatusReport(form.get("MessageSid") or form.get("SmsSid") or None,
                        status or "unknown", error)


def address(number: str) -> str:
    """A WhatsApp address for Twilio ("whatsapp:+…") from a stored WaId or address."""
    if number.startswith(_PREFIX):
        return number
    return f"{_PREFIX}+{number.lstrip('+')}"
