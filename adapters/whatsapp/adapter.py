"""WhatsApp through Twilio: signed webhooks in, REST API out (`outbound.py`).

`POST /webhooks/whatsapp` verifies X-Twilio-Signature against the public URL, stores the
message through `ingest` and answers an empty TwiML document at once; the reply goes out
later through the API. `POST /webhooks/whatsapp/status` records Twilio's delivery
statuses on the outbound row; a status callback posted to the incoming URL is recorded the
same way, never stored as a customer's message.
"""

from __future__ import annotations

from typing import NoReturn

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import Counter
from twilio.request_validator import RequestValidator, compare

from adapters.whatsapp import store
from adapters.whatsapp.client import TwilioApi
from adapters.whatsapp.inbound import (
    CHANNEL,
    MalformedForm,
    RequestOrigin,
    StatusReport,
    decode_form,
    public_url,
    status_report,
    to_inbound,
)
from adapters.whatsapp.outbound import STATUS_PATH, WhatsAppSender
from bot.channels import (
    ChannelDeps,
    ChannelTraits,
    Ingest,
    MediaSource,
    SendResult,
    TypingIndicator,
)
from bot.models import PendingDelivery
from bot.proxies import socket_peer
from bot.settings import Settings

log = structlog.get_logger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
WEBHOOK_PATH = "/webhooks/whatsapp"
KNOWN_STATUSES = {"queued", "accepted", "sending", "sent", "delivered", "read", "failed",
                  "undelivered", "canceled", "scheduled"}


def traits_from(settings: Settings) -> ChannelTraits:
    typing = settings.whatsapp_typing_after_s
    return ChannelTraits(
        burst_window_s=settings.whatsapp_burst_window_s,
        burst_max_messages=settings.whatsapp_burst_max_messages,
        burst_max_wait_s=settings.whatsapp_burst_max_wait_s,
        typing_after_s=typing if typing >= 0 else None,
        text_menus=True,
        opt_out_words=frozenset(w.upper() for w in settings.whatsapp_opt_out_keywords),
        opt_in_words=frozenset(w.upper() for w in settings.whatsapp_opt_in_keywords),
        opt_out_reply=settings.whatsapp_opt_out_reply,
        opt_in_reply=settings.whatsapp_opt_in_reply,
    )


def origin_of(request: Request) -> RequestOrigin:
    """What the server saw of a request, from Starlette's URL."""
    url = request.url
    headers = request.headers
    return RequestOrigin(
        scheme=url.scheme, host=headers.get("host") or url.netloc, path=url.path,
        query=url.query, peer=socket_peer(request),
        forwarded_proto=headers.get("x-forwarded-proto"),
        forwarded_host=headers.get("x-forwarded-host"),
    )


class WhatsAppAdapter(TypingIndicator, MediaSource):
    """The WhatsApp channel (Twilio)."""

    name = CHANNEL
    streams_progress = False

    def __init__(self, deps: ChannelDeps) -> None:
        s = self.settings = deps.settings
        assert s.twilio_account_sid and s.twilio_auth_token and s.twilio_whatsapp_from
        self.db = deps.db
        self.traits = traits_from(s)
        self.twilio = TwilioApi(s)
        self.validator = RequestValidator(s.twilio_auth_token.get_secret_value())
        registry = deps.metrics.registry
        self.outbound = WhatsAppSender(s, deps.db, self.twilio, registry)
        self.statuses = Counter("bot_whatsapp_status_callbacks_total",
                                "Twilio delivery status callbacks", ["status"], registry=registry)
        self.rejected = Counter("bot_whatsapp_webhooks_rejected_total",
                                "Webhooks refused", ["reason"], registry=registry)
        if not s.public_base_url:
            log.warning("whatsapp_public_base_url_unset",
                        hint="set PUBLIC_BASE_URL to get delivery status callbacks")

    async def aclose(self) -> None:
        await self.twilio.aclose()

    # --- inbound
    def _reject(self, status: int, reason: str, detail: str) -> NoReturn:
        """Refuse a webhook: counted and logged with its reason, never with its body."""
        self.rejected.labels(reason).inc()
        log.warning("whatsapp_webhook_rejected", reason=reason, status=status)
        raise HTTPException(status, detail)

    async def verified_form(self, request: Request) -> dict[str, str]:
        """The webhook's form when its signature is right; 4xx otherwise, body never logged."""
        limit = self.settings.whatsapp_max_form_bytes
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > limit:
            self._reject(413, "too_large", "form too large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                self._reject(413, "too_large", "form too large")
        try:
            form = decode_form(bytes(body))
        except MalformedForm as exc:
            self._reject(400, "malformed", str(exc))
        url = public_url(origin_of(request), base_url=self.settings.public_base_url,
                         trusted=self.settings.trusted_proxies)
        signature = request.headers.get("x-twilio-signature")
        if not signature or not self._signed(url, form, signature):
            reason = "signature_missing" if not signature else "signature_invalid"
            self.rejected.labels(reason).inc()
            log.warning("whatsapp_webhook_rejected", reason=reason, url=url,
                        peer=request.client.host if request.client else None,
                        message_sid=form.get("MessageSid"))
            raise HTTPException(403, "invalid signature")
        return form

    def _signed(self, url: str, form: dict[str, str], signature: str) -> bool:
        """Twilio's signature check, one HMAC for the usual request: the URL as the server
        sees it first; the validator's own check (the URL with and without its port, two
        HMACs) only when that one does not match."""
        if compare(self.validator.compute_signature(url, form), signature):
            return True
        return bool(self.validator.validate(url, form, signature))

    def router(self, ingest: Ingest) -> APIRouter:
        api = APIRouter(tags=["whatsapp"])

        async def incoming(request: Request) -> Response:
            form = await self.verified_form(request)
            report = status_report(form, sender=self.settings.twilio_whatsapp_from)
            if report is not None:  # a status callback sent to the incoming URL
                await self._record_status(report, None)
                return Response(EMPTY_TWIML, media_type="text/xml")
            try:
                message = to_inbound(form)
            except ValueError:
                self._reject(400, "unparsable", "not a message webhook")
            await ingest(message)
            return Response(EMPTY_TWIML, media_type="text/xml")

        async def status(request: Request) -> Response:
            form = await self.verified_form(request)
            report = status_report(form) or StatusReport(
                form.get("MessageSid") or form.get("SmsSid") or None, "unknown", None)
            row = request.query_params.get("m", "")
            await self._record_status(report, int(row) if row.isdigit() and len(row) < 19
                                      else None)
            return Response(EMPTY_TWIML, media_type="text/xml")

        # plain routes: the app serves them before its other routes (bot.app.include_channel)
        api.add_route(WEBHOOK_PATH, incoming, methods=["POST"])
        api.add_route(STATUS_PATH, status, methods=["POST"])
        return api

    async def _record_status(self, report: StatusReport, message_id: int | None) -> None:
        state = report.status
        self.statuses.labels(state if state in KNOWN_STATUSES else "other").inc()
        await store.record_status(self.db, CHANNEL, message_id, report.sid, state, report.error)

    # --- outbound
    async def send(self, delivery: PendingDelivery) -> SendResult:
        return await self.outbound.send(delivery)

    async def was_sent(self, delivery: PendingDelivery) -> bool | None:
        return await self.outbound.was_sent(delivery)

    async def show_typing(self, external_id: str) -> None:
        """WhatsApp's typing indicator for an inbound message (public beta; best effort)."""
        try:
            await self.twilio.client.messaging.v2.typing_indicator.create_async(
                channel="whatsapp", message_id=external_id)
        except Exception as exc:
            log.info("whatsapp_typing_indicator_failed", error=type(exc).__name__)

    async def download_media(self, url: str) -> bytes:
        """An inbound attachment (Twilio media URLs need the account's basic auth)."""
        return await self.twilio.download(url)
