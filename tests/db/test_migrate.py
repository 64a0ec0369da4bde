"""A bot's own migrations run after the platform's and are recorded like them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.db.migrate import (
    apply_migrations,
    default_migrations_dir,
    load_bot_migrations,
    load_migrations,
)
from testing.database import create_database, drop_database
from tests.conftest import ROOT, primary_server_url

STUDIO_MIGRATIONS = ROOT / "bots/studio/migrations"


@pytest.fixture
def empty_url() -> Iterator[str]:
    server = primary_server_url()
    conninfo = create_database(server)
    yield conninfo
    drop_database(server, conninfo)


def recorded(conninfo: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT name FROM public.bot_schema_migrations"
                            " ORDER BY applied_at, name").fetchall()
    return [row[0] for row in rows]


async def test_a_bots_migrations_follow_the_platforms(empty_url: str, tmp_path: Path) -> None:
    # Named to sort before most platform files: order is platform first all the same.
    (tmp_path / "0001_notes_bot.sql").write_text(
        "CREATE TABLE app.notes_bot (contact_id uuid NOT NULL REFERENCES app.contacts (id));"
        " ALTER TABLE app.notes_bot ENABLE ROW LEVEL SECURITY;")
    platform = [m.name for m in load_migrations(default_migrations_dir())]
    applied = await apply_migrations(empty_url, bot_migrations=tmp_path)
    assert applied == [*platform, "0001_notes_bot"]
    assert await apply_migrations(empty_url, bot_migrations=tmp_path) == []
    assert recorded(empty_url)[-1] == "0001_notes_bot"


async def test_a_database_that_applied_the_studio_as_a_platform_migration_keeps_it(
    empty_url: str, tmp_path: Path,
) -> None:
    # The layout before the example bot had migrations of its own: one folder for both.
    for sql in [*default_migrations_dir().glob("*.sql"), *STUDIO_MIGRATIONS.glob("*.sql")]:
        shutil.copy(sql, tmp_path / sql.name)
    before = await apply_migrations(empty_url, tmp_path)
    assert "0400_studio" in before
    # Re-running 0400_studio would fail (its tables exist): it is recognised as applied.
    assert await apply_migrations(empty_url, bot_migrations=STUDIO_MIGRATIONS) == []


def test_a_bot_migration_may_not_take_a_platform_migrations_name(tmp_path: Path) -> None:
    (tmp_path / "0002_core_schema.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match=r"0002_core_schema.sql: a platform migration has"):
        load_bot_migrations(tmp_path, load_migrations(default_migrations_dir()))


def test_a_missing_migrations_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_bot_migrations(tmp_path / "nowhere", [])
