"""What an adapter is built from: a few typed parts of the process, never the whole of it."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from bot.db.pool import Database
from bot.handoff.console import StaffActions
from bot.models import ConversationNotice, StreamEvent
from bot.observability import Metrics
from bot.safety.ratelimit import RateDecision
from bot.settings import Settings


class TurnEvents(Protocol):
    """The progress events of the turn answering one inbound message, as they happen."""

    def subscribe(self, message_id: int) -> AbstractAsyncContextManager[
            asyncio.Queue[StreamEvent]]: ...


class ConversationFeed(Protocol):
    """Messages sent into a conversation, as they are delivered (across processes: the
    deliverer announces them with the delivery's commit)."""

    def follow(self, conversation_id: UUID) -> AbstractAsyncContextManager[
            asyncio.Queue[ConversationNotice]]: ...


class ClientLimits(Protocol):
    """The per-client limit of HTTP APIs that take messages directly (the web chat)."""

    async def check_ip(self, ip: str) -> RateDecision: ...


@dataclass(frozen=True)
class BotProfile:
    """How the bot presents itself on a channel's own pages (the web chat's title and
    first message): from the bot definition, BOT_NAME overriding its name."""

    name: str
    welcome: str


@dataclass(frozen=True)
class ChannelDeps:
    """The parts of one process an adapter may use. Built before the process starts:
    `db` is opened by then, and adapters use it only while handling requests."""

    settings: Settings
    db: Database
    metrics: Metrics
    turn_events: TurnEvents
    conversations: ConversationFeed
    client_limits: ClientLimits
    #: staff actions, for a channel that hosts the support console
    staff: StaffActions
    profile: BotProfile
