"""Progress events of a turn, and messages sent into a conversation, from the worker to
whoever waits on them.

Events go through PostgreSQL NOTIFY so a web process sees the events of a turn run
by a worker in another process; one LISTEN connection per process fans them out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from uuid import UUID

import psycopg
import structlog

from bot.db.notify import CHANNEL, CONVERSATIONS, NOTIFY_SQL, notify_params
from bot.db.pool import Database
from bot.models import ConversationNotice, StreamEvent

log = structlog.get_logger(__name__)


class EventHub:
    """Publishes turn events and lets callers wait for the events of one message."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._subscribers: dict[int, set[asyncio.Queue[StreamEvent]]] = defaultdict(set)
        self._followers: dict[UUID, set[asyncio.Queue[ConversationNotice]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, event: StreamEvent) -> None:
        """Send the event now, in a round trip of its own."""
        async with self.db.pool.connection() as conn:
            await conn.execute(NOTIFY_SQL, notify_params(event))

    @contextlib.asynccontextmanager
    async def follow(self, conversation_id: UUID) -> AsyncIterator[
            asyncio.Queue[ConversationNotice]]:
        queue: asyncio.Queue[ConversationNotice] = asyncio.Queue()
        self._followers[conversation_id].add(queue)
        try:
            yield queue
        finally:
            self._followers[conversation_id].discard(queue)
            if not self._followers[conversation_id]:
                del self._followers[conversation_id]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="event-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def subscribe(self, message_id: int) -> AsyncIterator[asyncio.Queue[StreamEvent]]:
        queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._subscribers[message_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[message_id].discard(queue)
            if not self._subscribers[message_id]:
                del self._subscribers[message_id]

    async def _listen_forever(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.db.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}; LISTEN {CONVERSATIONS}")
                    self._ready.set()
                    async for note in conn.notifies():
                        if note.channel == CONVERSATIONS:
                            self._dispatch_notice(note.payload)
                        else:
                            self._dispatch(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event_listener_reconnect", error=type(exc).__name__)
                await asyncio.sleep(1.0)

    def _dispatch(self, payload: str) -> None:
        try:
            event = StreamEvent.model_validate_json(payload)
        except ValueError:
            return
        for queue in list(self._subscribers.get(event.message_id, ())):
            queue.put_nowait(event)

    def _dispatch_notice(self, payload: str) -> None:
        try:
            notice = ConversationNotice.model_validate_json(payload)
        except ValueError:
            return
        for queue in list(self._followers.get(notice.conversation_id, ())):
            queue.put_nowait(notice)
