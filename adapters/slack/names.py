"""People's display names in Slack: remembered per process, stored on the contact, looked
up with users.info once per user (never while Slack waits for its acknowledgement)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from uuid import UUID

import psycopg
import structlog
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import store
from bot.db.pool import Database
from bot.settings import Settings

log = structlog.get_logger(__name__)


class UserNames:
    """A bounded cache of names by "team:user"."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._names: OrderedDict[str, str | None] = OrderedDict()
        self._learning: set[str] = set()  # users whose name is being looked up
        # Bounded: each lookup takes a pool connection twice, and a burst of new users
        # would otherwise leave acknowledgements waiting for connections.
        self._lookups = asyncio.Semaphore(settings.slack_user_lookup_concurrency)

    def known(self, team: str, user: str) -> str | None:
        """The name when this process already knows it (no I/O: the acknowledgement never
        waits for a lookup)."""
        key = f"{team}:{user}"
        if key in self._names:
            self._names.move_to_end(key)
        return self._names.get(key)

    def should_learn(self, team: str, user: str) -> bool:
        """True once per unknown user: the caller then runs `learn` after acknowledging."""
        key = f"{team}:{user}"
        if key in self._names or key in self._learning:
            return False
        self._learning.add(key)
        return True

    async def learn(self, client: AsyncWebClient, team: str, user: str,
                    contact_id: UUID) -> None:
        """The stored name, or users.info once per user and process, kept on the contact
        when it has none."""
        key = f"{team}:{user}"
        try:
            async with self._lookups:
                name = await self._look_up(client, user, key, contact_id)
        except (SlackClientError, TimeoutError, psycopg.Error) as exc:
            log.info("slack_user_lookup_failed", user=user, error=type(exc).__name__)
            return  # not cached: the next message tries again
        finally:
            self._learning.discard(key)
        self._remember(key, name)

    async def of_staff(self, client: AsyncWebClient, team: str, user: str) -> str | None:
        """A support person's name for the console (looked up now: the card shows it)."""
        key = f"{team}:{user}"
        if key in self._names:
            return self.known(team, user)
        try:
            name = await self._look_up(client, user, key, None)
        except (SlackClientError, TimeoutError, psycopg.Error) as exc:
            log.info("slack_user_lookup_failed", user=user, error=type(exc).__name__)
            return None
        self._remember(key, name)
        return name

    def _remember(self, key: str, name: str | None) -> None:
        self._names[key] = name
        while len(self._names) > self.settings.slack_user_cache_size:
            self._names.popitem(last=False)

    async def _look_up(self, client: AsyncWebClient, user: str, key: str,
                       contact_id: UUID | None) -> str | None:
        stored = await store.stored_name(self.db, key)
        if stored is not None:
            return stored
        info = await asyncio.wait_for(client.users_info(user=user),
                                      self.settings.slack_user_lookup_timeout_s)
        member = info.get("user") or {}
        profile = member.get("profile") or {}
        name: str | None = (profile.get("display_name") or profile.get("real_name")
                            or member.get("real_name") or member.get("name") or None)
        if name is not None and contact_id is not None:
            await store.keep_name(self.db, contact_id, name)
        return name
