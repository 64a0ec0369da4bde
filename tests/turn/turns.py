"""A `Turn` as the stages see it, built without a database (for stage tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from bot.channels import ChannelTraits
from bot.db.conversations import SessionInfo
from bot.db.pool import Database
from bot.models import StoredInbound
from bot.routing.responder import OpeningReadResults
from bot.settings import Settings
from bot.turn.progress import Progress
from bot.turn.stage import Turn
from bot.turn.unit import TurnUnit


def make_turn(text: str, *, session_status: str = "active", traits: ChannelTraits | None = None,
              payload: str | None = None, history: list[dict[str, Any]] | None = None) -> Turn:
    """A one-message turn on the web chat; its unit is never committed by stage tests."""
    message = StoredInbound(
        id=1, contact_id=uuid.uuid4(), conversation_id=uuid.uuid4(), channel="web",
        external_id="m1", text=text, payload=payload, media=[], received_at=datetime.now(UTC),
        attempts=0, trace_id=None)
    unit = TurnUnit(Database(None, Settings(_env_file=None)),  # type: ignore[call-arg]
                    message.contact_id)
    return Turn(
        batch=[message], traits=traits or ChannelTraits(),
        session=SessionInfo(uuid.uuid4(), session_status, "", False, 1),
        history=history or [], previous_intent=None, opted_out=False,
        reads=OpeningReadResults(), unit=unit,
        progress=Progress(message, hub=None, observer=None, unit=unit),
        raw_text=text, payload=payload, text=text)
