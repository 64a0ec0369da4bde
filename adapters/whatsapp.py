"""WhatsApp through Twilio: signed webhooks in, REST API (twilio SDK, async) out.

Inbound: `POST /webhooks/whatsapp` verifies X-Twilio-Signature against the public
URL, stores the message through `ingest` and answers an empty TwiML document at
once; the reply goes out later through the API. `POST /webhooks/whatsapp/status`
records Twilio's delivery statuses on the outbound row.

Outbound: one reply becomes one or more messages (`whatsapp_content.plan_messages`);
each sent part's SID is recorded on the row as it goes (`raw.twilio_sids`), so a
retry or a restart resumes after the last part Twilio accepted instead of sending
parts twice. The row's `external_id` is the FIRST part's SID; status callbacks find
the row by its id in the callback URL (signed by Twilio), so every part counts.
Nothing is sent to a contact who opted out (except the opt-out confirmation), and
nothing free-form outside WhatsApp's 24-hour customer-service window.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import Counter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator, compare
from twilio.rest import Client

from adapters import whatsapp_store as store
from adapters.base import ChannelTraits, Ingest, SendResult
from adapters.whatsapp_client import TwilioHttp, TwilioTransientError, with_retries
from adapters.whatsapp_content import BODY_MAX, WhatsAppMessage, plan_messages
from adapters.whatsapp_format import to_whatsapp
from adapters.whatsapp_inbound import (
    CHANNEL,
    MalformedForm,
    RequestOrigin,
    address,
    decode_form,
    public_url,
    to_inbound,
)
from adapters.whatsapp_templates import ContentTemplates
from bot.db.messages import PendingDelivery
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = structlog.get_logger(__name__)
T = TypeVar("T")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
WEBHOOK_PATH = "/webhooks/whatsapp"
STATUS_PATH = "/webhooks/whatsapp/status"
KNOWN_STATUSES = {"queued", "accepted", "sending", "sent", "delivered", "read", "failed",
                  "undelivered", "canceled", "scheduled"}
OUTSIDE_WINDOW = 63016  # Twilio: free-form message outside the 24-hour window


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
    """What the server saw of a request, read from the ASGI scope: building Starlette's
    `request.url` for it cost more than the rest of the check."""
    scope = request.scope
    headers = request.headers
    host = headers.get("host") or request.url.netloc
    return RequestOrigin(
        scheme=scope.get("scheme", "http"), host=host, path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        peer=request.client.host if request.client else None,
        forwarded_proto=headers.get("x-forwarded-proto"),
        forwarded_host=headers.get("x-forwarded-host"),
    )


class WhatsAppAdapter:
    """The WhatsApp channel (Twilio)."""

    name = CHANNEL
    streams_progress = False

    def __init__(self, runtime: Runtime) -> None:
        s = runtime.settings
        assert s.twilio_account_sid and s.twilio_auth_token and s.twilio_whatsapp_from
        self.runtime = runtime
        self.settings = s
        self.traits = traits_from(s)
        self.account_sid = s.twilio_account_sid
        self.auth_token = s.twilio_auth_token.get_secret_value()
        self.validator = RequestValidator(self.auth_token)
        self._http: TwilioHttp | None = None
        self._client: Client | None = None
        self.templates = ContentTemplates(self)
        # SIDs Twilio accepted whose recording on the row failed (the database was down):
        # the retry in this process must not send those parts again.
        self._unrecorded: dict[int, list[str]] = {}
        registry = runtime.metrics.registry
        self.held = Counter("bot_whatsapp_held_total", "WhatsApp replies not sent, by reason",
                            ["reason"], registry=registry)
        self.statuses = Counter("bot_whatsapp_status_callbacks_total",
                                "Twilio delivery status callbacks", ["status"], registry=registry)
        self.rejected = Counter("bot_whatsapp_webhooks_rejected_total",
                                "Webhooks refused", ["reason"], registry=registry)
        if not s.public_base_url:
            log.warning("whatsapp_public_base_url_unset",
                        hint="set PUBLIC_BASE_URL to get delivery status callbacks")

    # --- Twilio client, built on first use inside the event loop
    @property
    def http(self) -> TwilioHttp:
        if self._http is None:
            self._http = TwilioHttp(timeout_s=self.settings.whatsapp_http_timeout_s,
                                    base_url=self.settings.twilio_api_base_url)
        return self._http

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.account_sid, self.auth_token, http_client=self.http)
        return self._client

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """One API call with the configured retries on 429/5xx (Retry-After honoured)."""
        s = self.settings
        return await with_retries(make, attempts=s.whatsapp_send_attempts,
                                  base_s=s.whatsapp_retry_base_s, cap_s=s.whatsapp_retry_max_wait_s)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

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
            try:
                message = to_inbound(form)
            except ValueError:
                self._reject(400, "unparsable", "not a message webhook")
            await ingest(message)
            return Response(EMPTY_TWIML, media_type="text/xml")

        async def status(request: Request) -> Response:
            form = await self.verified_form(request)
            state = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
            sid = form.get("MessageSid") or form.get("SmsSid")
            row = request.query_params.get("m", "")
            error = None
            if form.get("ErrorCode"):
                error = f"twilio {form['ErrorCode']}: {form.get('ErrorMessage') or state}"
            self.statuses.labels(state if state in KNOWN_STATUSES else "other").inc()
            message_id = int(row) if row.isdigit() and len(row) < 19 else None
            await store.record_status(self.runtime.db, CHANNEL, message_id, sid, state, error)
            return Response(EMPTY_TWIML, media_type="text/xml")

        # plain routes: the app serves them before its other routes (bot.app.include_channel)
        api.add_route(WEBHOOK_PATH, incoming, methods=["POST"])
        api.add_route(STATUS_PATH, status, methods=["POST"])
        return api

    # --- outbound
    def _in_window(self, last_inbound: datetime | None) -> bool:
        window = timedelta(hours=self.settings.whatsapp_session_window_hours)
        return last_inbound is not None and datetime.now(UTC) - last_inbound < window

    def plan(self, delivery: PendingDelivery, in_window: bool,
             content_api: bool | None = None) -> list[WhatsAppMessage] | None:
        """The messages for a delivery; outside the window only the configured template."""
        if in_window:
            use_content = self.settings.whatsapp_content_api if content_api is None else content_api
            return plan_messages(delivery.reply, content_api=use_content,
                                 max_chars=self.settings.whatsapp_max_body_chars)
        template = self.settings.whatsapp_outside_window_content_sid
        if not template:
            return None
        text = to_whatsapp(delivery.reply.text)[:BODY_MAX]
        return [WhatsAppMessage(content_variables={"1": text}, template_sid=template)]

    async def _sent_sids(self, delivery: PendingDelivery, recorded: list[str]) -> list[str]:
        """The parts Twilio accepted: recorded on the row, or kept here when recording failed."""
        held = self._unrecorded.get(delivery.id, [])
        if len(held) <= len(recorded):
            self._unrecorded.pop(delivery.id, None)
            return list(recorded)
        await store.record_sent_parts(self.runtime.db, delivery, held)
        self._unrecorded.pop(delivery.id, None)
        return list(held)

    async def send(self, delivery: PendingDelivery) -> SendResult:
        state = store.delivery_state(delivery)
        sids = await self._sent_sids(delivery, state.sent_sids)
        if state.opted_out and not delivery.reply.compliance_notice:
            return self._hold("opted_out", delivery, "recipient opted out (STOP)")
        in_window = self._in_window(state.last_inbound_at)
        plan = self.plan(delivery, in_window)
        if plan is not None and not sids and not await self._templates_ready(plan, delivery):
            plan = self.plan(delivery, in_window, content_api=False)
        if plan is None:
            return self._hold("outside_window", delivery,
                              "outside the 24-hour window and no template configured "
                              "(WHATSAPP_OUTSIDE_WINDOW_CONTENT_SID)")
        for message in plan[len(sids):]:
            try:
                sid = await self._send_one(delivery, message)
            except TwilioTransientError as exc:
                log.warning("whatsapp_send_retry_later", message_id=delivery.id,
                            status=exc.status, retry_after_s=exc.retry_after_s)
                return SendResult("retry", error=str(exc), retry_after_s=exc.retry_after_s)
            except TwilioRestException as exc:
                if exc.code == OUTSIDE_WINDOW:
                    self.held.labels("outside_window").inc()
                return SendResult("failed", external_id=sids[0] if sids else None,
                                  error=f"twilio {exc.status} {exc.code}: {exc.msg}"[:500])
            except TwilioException as exc:
                return SendResult("failed", external_id=sids[0] if sids else None,
                                  error=f"twilio: {exc}"[:500])
            sids.append(sid)
            self._unrecorded[delivery.id] = list(sids)
            await store.record_sent_parts(self.runtime.db, delivery, sids)
            self._unrecorded.pop(delivery.id, None)
        return SendResult("sent", external_id=sids[0] if sids else None)

    async def _templates_ready(self, plan: list[WhatsAppMessage],
                               delivery: PendingDelivery) -> bool:
        """Create (or find) every template the plan needs; False when Twilio refuses one,
        so the reply goes out as text with a numbered menu instead."""
        for message in plan:
            if message.content is None:
                continue
            try:
                await self.templates.sid_for(message.content, delivery)
            except TwilioRestException as exc:
                self.held.labels("content_template_refused").inc()
                log.warning("whatsapp_content_template_refused", kind=message.content.kind,
                            status=exc.status, code=exc.code)
                return False
        return True

    def _hold(self, reason: str, delivery: PendingDelivery, error: str) -> SendResult:
        self.held.labels(reason).inc()
        log.warning("whatsapp_reply_held", reason=reason, message_id=delivery.id)
        return SendResult("failed", error=error)

    async def _send_one(self, delivery: PendingDelivery, message: WhatsAppMessage) -> str:
        kwargs: dict[str, Any] = {"to": address(delivery.recipient),
                                  "from_": self.settings.twilio_whatsapp_from}
        base = self.settings.public_base_url
        if base:
            kwargs["status_callback"] = f"{base.rstrip('/')}{STATUS_PATH}?m={delivery.id}"
        content_sid = message.template_sid
        if message.content is not None:
            content_sid = await self.templates.sid_for(message.content, delivery)
        if content_sid:
            kwargs["content_sid"] = content_sid
            if message.content_variables:
                kwargs["content_variables"] = json.dumps(message.content_variables)
        else:
            kwargs["body"] = message.body
            if message.media_url:
                kwargs["media_url"] = [message.media_url]
        created = await self.call(lambda: self.client.messages.create_async(**kwargs))
        return str(created.sid)

    async def was_sent(self, delivery: PendingDelivery) -> bool | None:
        """True when every part is recorded as accepted; otherwise unknown.

        Twilio has no idempotency key for messages, so a part whose SID was not
        recorded cannot be told apart from an identical earlier message; `send`
        resumes after the recorded parts.
        """
        state = store.delivery_state(delivery)
        plan = self.plan(delivery, self._in_window(state.last_inbound_at))
        sent = await self._sent_sids(delivery, state.sent_sids)
        return True if plan is not None and sent and len(sent) >= len(plan) else None

    async def show_typing(self, external_id: str) -> None:
        """WhatsApp's typing indicator for an inbound message (public beta; best effort)."""
        try:
            await self.client.messaging.v2.typing_indicator.create_async(
                channel="whatsapp", message_id=external_id)
        except Exception as exc:
            log.info("whatsapp_typing_indicator_failed", error=type(exc).__name__)

    async def download_media(self, url: str) -> bytes:
        """An inbound attachment (Twilio media URLs need the account's basic auth)."""
        return await self.http.download(url, (self.account_sid, self.auth_token),
                                        self.settings.whatsapp_media_max_bytes)
