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
from contextlib import AbstractAsyncContextManager
from typing import Generic, TypeVar
from uuid import UUID

import psycopg
import structlog

from bot.db.notify import CHANNEL, CONVERSATIONS, NOTIFY_SQL, notify_params
from bot.db.pool import Database
from bot.models import ConversationNotice, StreamEvent

log = structlog.get_logger(__name__)


K = TypeVar("K")
T = TypeVar("T")


class _Queues(Generic[K, T]):
    """Queues of waiters by key: what arrives for a key goes to each of its queues."""

    def __init__(self) -> None:
        self._by_key: dict[K, set[asyncio.Queue[T]]] = defaultdict(set)

    @contextlib.asynccontextmanager
    async def waiting(self, key: K) -> AsyncIterator[asyncio.Queue[T]]:
        queue: asyncio.Queue[T] = asyncio.Queue()
        self._by_key[key].add(queue)
        try:
            yield queue
        finally:
            self._by_key[key].discard(queue)
            if not self._by_key[key]:
                del self._by_key[key]

    def deliver(self, key: K, item: T) -> None:
        for queue in list(self._by_key.get(key, ())):
            queue.put_nowait(item)


class EventHub:
    """Publishes turn events and lets callers wait for the events of one message, or
    follow what happens in one conversation."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._subscribers: _Queues[int, StreamEvent] = _Queues()
        self._followers: _Queues[UUID, ConversationNotice] = _Queues()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, event: StreamEvent) -> None:
        """Send the event now, in a round trip of its own."""
        async with self.db.pool.connection() as conn:
            await conn.execute(NOTIFY_SQL, notify_params(event))

    def follow(self, conversation_id: UUID) -> AbstractAsyncContextManager[
            asyncio.Queue[ConversationNotice]]:
        return self._followers.waiting(conversation_id)

    def subscribe(self, message_id: int) -> AbstractAsyncContextManager[
            asyncio.Queue[StreamEvent]]:
        return self._subscribers.waiting(message_id)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="event-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.db.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}; LISTEN {CONVERSATIONS}")
                    self._ready.set()
                    async for note in conn.notifies():
                        self._dispatch(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event_listener_reconnect", error=type(exc).__name__)
                await asyncio.sleep(1.0)

    def _dispatch(self, channel: str, payload: str) -> None:
        try:
            if channel == CONVERSATIONS:
                notice = ConversationNotice.model_validate_json(payload)
                self._followers.deliver(notice.conversation_id, notice)
            else:
                event = StreamEvent.model_validate_json(payload)
                self._subscribers.deliver(event.message_id, event)
        except ValueError:
            return
