"""A database for one-off commands (`bot seed-demo`, `bot kb ingest`): resolved, migrated, open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.db.embedded import resolve_database_url
from bot.db.logins import app_conninfo, check_app_login
from bot.db.migrate import apply_migrations
from bot.db.pool import Database
from bot.definition import load_definition
from bot.settings import Settings


@asynccontextmanager
async def standalone_database(settings: Settings) -> AsyncIterator[Database]:
    owner = await resolve_database_url(settings.database_url, settings.embedded_database_dir)
    if settings.run_migrations_on_start:
        definition = load_definition(settings.definition_path)
        await apply_migrations(owner, bot_migrations=definition.migrations,
                               app_login=settings.database_app_url)
    conninfo = app_conninfo(owner, settings.database_app_url)
    await check_app_login(conninfo, settings.db_connect_timeout_s)
    db = Database(conninfo, settings)
    await db.open()
    try:
        yield db
    finally:
        await db.close()
