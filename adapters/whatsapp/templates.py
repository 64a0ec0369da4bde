"""Content API templates the adapter needs, created once and cached by shape hash.

The cache is the `app.whatsapp_content_templates` table (bot-authored shapes, no
user data), with an in-process dictionary in front of it. Two processes racing to
create the same shape both create it at Twilio; the first row stored wins and the
other template is simply unused.
"""

from __future__ import annotations

import structlog
from twilio.rest.content.v1.content import ContentList

from adapters.whatsapp import store
from adapters.whatsapp.client import TwilioApi
from adapters.whatsapp.content import ContentShape
from bot.db.pool import Database
from bot.models import PendingDelivery

log = structlog.get_logger(__name__)


class ContentTemplates:
    """SIDs of Content API templates by shape."""

    def __init__(self, db: Database, twilio: TwilioApi) -> None:
        self.db = db
        self.twilio = twilio
        self.known: dict[str, str] = {}

    async def sid_for(self, shape: ContentShape, delivery: PendingDelivery) -> str:
        key = shape.key
        if key in self.known:
            return self.known[key]
        assert delivery.contact_id is not None
        sid = await store.template_sid(self.db, delivery.contact_id, key)
        if sid is None:
            sid = await store.keep_template(self.db, delivery.contact_id, key, shape.kind,
                                            await self._create(shape))
        self.known[key] = sid
        return sid

    async def _create(self, shape: ContentShape) -> str:
        request = ContentList.ContentCreateRequest({
            "friendly_name": f"bot_{shape.kind.removeprefix('twilio/')}_{shape.key[:16]}",
            "language": "en",
            "variables": shape.variables,
            "types": shape.types,
        })
        client = self.twilio.client
        created = await self.twilio.call(
            lambda: client.content.v1.contents.create_async(request))
        log.info("whatsapp_content_template_created", kind=shape.kind, sid=created.sid)
        return str(created.sid)
