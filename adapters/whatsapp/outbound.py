"""WhatsApp replies through Twilio's REST API (the twilio SDK, async).

One reply becomes one or more messages (`content.plan_messages`); each sent part's SID is
recorded on the row as it goes (`raw.twilio_sids`), so a retry or a restart resumes after
the last part Twilio accepted instead of sending parts twice. The row's `external_id` is
the FIRST part's SID; status callbacks find the row by its id in the callback URL (signed
by Twilio), so every part counts. Nothing is sent to a contact who opted out (except the
opt-out confirmation), and nothing free-form outside WhatsApp's 24-hour window.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter
from twilio.base.exceptions import TwilioException, TwilioRestException

from adapters.whatsapp import store
from adapters.whatsapp.client import TwilioApi, TwilioTransientError
from adapters.whatsapp.content import BODY_MAX, WhatsAppMessage, plan_messages
from adapters.whatsapp.format import to_whatsapp
from adapters.whatsapp.inbound import address
from adapters.whatsapp.templates import ContentTemplates
from bot.channels import SendResult
from bot.db.pool import Database
from bot.models import PendingDelivery
from bot.settings import Settings

log = structlog.get_logger(__name__)
STATUS_PATH = "/webhooks/whatsapp/status"
OUTSIDE_WINDOW = 63016  # Twilio: free-form message outside the 24-hour window


class WhatsAppSender:
    """Plans and sends replies, once each part."""

    def __init__(self, settings: Settings, db: Database, twilio: TwilioApi,
                 registry: CollectorRegistry) -> None:
        self.settings = settings
        self.db = db
        self.twilio = twilio
        self.templates = ContentTemplates(db, twilio)
        # SIDs Twilio accepted whose recording on the row failed (the database was down):
        # the retry in this process must not send those parts again.
        self._unrecorded: dict[int, list[str]] = {}
        self.held = Counter("bot_whatsapp_held_total", "WhatsApp replies not sent, by reason",
                            ["reason"], registry=registry)

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
        await store.record_sent_parts(self.db, delivery, held)
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
            await store.record_sent_parts(self.db, delivery, sids)
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
        # One try: a 429/5xx/unreachable Twilio raises TwilioTransientError and the
        # deliverer queues the reply again (Retry-After honoured) instead of holding a
        # worker slot through the wait.
        created = await self.twilio.client.messages.create_async(**kwargs)
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
