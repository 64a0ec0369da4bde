"""What the Slack channel keeps in PostgreSQL: installations and OAuth states (bolt's
multi-workspace mode), user names, threads it talks in.

Tokens are secrets, so they never pass through a user's unit of work: every read
and write goes through the owner-privileged functions of migrations/0200_slack.sql,
called as the login role (`Database.as_system`), which `authenticated` cannot call.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.db.pool import Database
from bot.models import StoredInbound

_log = logging.getLogger(__name__)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not serialisable: {type(value).__name__}")


def installation_to_json(installation: Installation) -> str:
    """The installation as stored (custom values kept), timestamps as epoch seconds."""
    return json.dumps(installation.to_dict_for_copying(), default=_json_default)


def installation_from_json(data: dict[str, Any]) -> Installation:
    return Installation(**data)


class PostgresInstallationStore(AsyncInstallationStore):
    """bolt's `AsyncInstallationStore` backed by `app.slack_installations`."""

    def __init__(self, db: Database, client_id: str) -> None:
        self.db = db
        self.client_id = client_id

    @property
    def logger(self) -> logging.Logger:
        return _log

    async def async_save(self, installation: Installation) -> None:
        # One row for the workspace (found by the bot lookups) and one for the installer.
        for user_id in ("", installation.user_id or ""):
            async with self.db.as_system() as conn:
                await conn.execute(
                    "SELECT app.slack_save_installation(%s, %s, %s, %s, %s, %s, %s::jsonb)",
                    (self.client_id, installation.enterprise_id, installation.team_id, user_id,
                     bool(installation.is_enterprise_install),
                     installation.bot_token is not None, installation_to_json(installation)))

    async def async_save_bot(self, bot: Bot) -> None:
        raise NotImplementedError("bots are saved with their installation")

    async def _find(self, enterprise_id: str | None, team_id: str | None,
                    user_id: str | None, bot_only: bool,
                    is_enterprise_install: bool | None) -> Installation | None:
        if is_enterprise_install:
            team_id = None  # an org-wide install is found by its enterprise id alone
        async with self.db.as_system() as conn:
            cur = await conn.execute(
                "SELECT app.slack_find_installation(%s, %s, %s, %s, %s) AS data",
                (self.client_id, enterprise_id, team_id, user_id, bot_only))
            row = await cur.fetchone()
        if row is None or row["data"] is None:
            return None
        return installation_from_json(row["data"])

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        found = await self._find(enterprise_id, team_id, None, True, is_enterprise_install)
        return found.to_bot() if found is not None else None

    async def async_find_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return await self._find(enterprise_id, team_id, user_id if user_id else "", False,
                                is_enterprise_install)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(self, *, enterprise_id: str | None,
                                        team_id: str | None, user_id: str | None = None) -> None:
        async with self.db.as_system() as conn:
            await conn.execute("SELECT app.slack_delete_installation(%s, %s, %s, %s)",
                               (self.client_id, enterprise_id, team_id, user_id or ""))

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self.db.as_system() as conn:
            await conn.execute("SELECT app.slack_delete_installation(%s, %s, %s, NULL)",
                               (self.client_id, enterprise_id, team_id))


class PostgresOAuthStateStore(AsyncOAuthStateStore):
    """One-time OAuth `state` values, shared by every web process."""

    def __init__(self, db: Database, expiration_s: int) -> None:
        self.db = db
        self.expiration = timedelta(seconds=expiration_s)

    @property
    def logger(self) -> logging.Logger:
        return _log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        async with self.db.as_system() as conn:
            await conn.execute("SELECT app.slack_issue_state(%s, %s)", (state, self.expiration))
        return state

    async def async_consume(self, state: str) -> bool:
        async with self.db.as_system() as conn:
            cur = await conn.execute("SELECT app.slack_consume_state(%s) AS ok", (state,))
            row = await cur.fetchone()
        return bool(row and row["ok"])


# --- what the channel reads and writes of conversations and contacts

async def stored_name(db: Database, user_key: str) -> str | None:
    """The display name stored for a Slack user ("team:user"), if any."""
    rows = await db.call_as_system("SELECT app.contact_display_name('slack', %s) AS name",
                                   (user_key,))
    return None if not rows or rows[0]["name"] is None else str(rows[0]["name"])


async def keep_name(db: Database, contact_id: UUID, name: str) -> None:
    """A contact's display name, when it has none yet."""
    async with db.as_user(contact_id, pipeline=True) as conn:
        await conn.execute("UPDATE app.contacts SET display_name = %s"
                           " WHERE id = %s AND display_name IS NULL", (name, contact_id))


async def thread_known(db: Database, thread_key: str) -> bool:
    """Whether the bot already talks with someone in this thread."""
    rows = await db.call_as_system("SELECT app.slack_thread_known(%s) AS found", (thread_key,))
    return bool(rows and rows[0]["found"])


async def turn_target(db: Database, message: StoredInbound) -> tuple[str, str | None] | None:
    """Where a turn's progress goes: the conversation key of the message and its sender."""
    async with db.in_one_trip(message.contact_id) as unit:
        found = unit.add(
            "SELECT m.raw->>'conversation_key' AS key, ci.external_id AS sender"
            " FROM app.messages m LEFT JOIN app.channel_identities ci"
            " ON ci.contact_id = m.contact_id AND ci.channel = m.channel"
            " WHERE m.id = %s", (message.id,))
    row = found.one()
    if row is None or not row["key"]:
        return None
    return str(row["key"]), row["sender"]
