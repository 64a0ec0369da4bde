"""Applies the SQL files in `migrations/` in order, then the bot's own, and records them.

A small runner rather than yoyo-migrations or alembic: yoyo splits files into
statements with sqlparse (fragile with plpgsql `$$` bodies) and speaks its own URL
dialect rather than libpq URIs (the embedded server is a Unix-socket URI); alembic
brings SQLAlchemy for what is "run these files once, in order, under a lock".
Each file runs in one transaction; a PostgreSQL advisory lock keeps concurrent
starts from applying twice, so `bot migrate` is idempotent and safe to race.

After a run that applied anything, the files in `repeatable/` run again (idempotent
grants that must also reach the tables a bot's migrations create).

A bot definition's own migrations (`migrations:` in its bot.yaml) run after all of the
platform's, since they build on its roles, schema and functions. They are recorded by
file name like the platform's, so a name may not repeat one of the platform's: a
database that applied `0400_studio` when the example bot's tables were still a platform
migration does not apply it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import psycopg
from procrastinate.schema import SchemaManager

from bot.db.logins import set_app_password

_LOCK_KEY = 7_340_001  # arbitrary constant shared by every runner of this project
PROCRASTINATE_MIGRATION = "0000_procrastinate_schema"


@dataclass(frozen=True)
class Migration:
    """One SQL file (or the job queue's schema) to apply once."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def default_migrations_dir() -> Path:
    # migrations/ of the checkout; in an installed wheel, the copy inside the package
    return Path(__file__).resolve().parent / "migrations"


def load_migrations(directory: Path) -> list[Migration]:
    found = [Migration(PROCRASTINATE_MIGRATION, SchemaManager.get_schema())]
    for path in sorted(directory.glob("*.sql")):
        found.append(Migration(path.stem, path.read_text(encoding="utf-8")))
    return found


def load_bot_migrations(directory: Path, platform: list[Migration]) -> list[Migration]:
    """A bot's SQL files in order; a missing folder or a platform migration's name is an error."""
    if not directory.is_dir():
        raise FileNotFoundError(f"the bot's migrations folder {directory} does not exist")
    taken = {m.name for m in platform}
    found = []
    for path in sorted(directory.glob("*.sql")):
        if path.stem in taken:
            raise ValueError(f"{path}: a platform migration has this name; name a bot's"
                             " migrations after the bot (e.g. 0400_studio.sql)")
        found.append(Migration(path.stem, path.read_text(encoding="utf-8")))
    return found


async def apply_migrations(conninfo: str, directory: Path | None = None, *,
                           bot_migrations: Path | str | None = None,
                           app_login: str | None = None) -> list[str]:
    """Apply every migration not yet recorded, the platform's then the bot's (from the
    folder `bot_migrations`, when given); return the names applied now. With `app_login`
    (DATABASE_APP_URL) naming bot_app and a password, bot_app gets that password."""
    migrations = load_migrations(directory or default_migrations_dir())
    if bot_migrations is not None:
        migrations += load_bot_migrations(Path(bot_migrations), migrations)
    applied_now: list[str] = []
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS public.bot_schema_migrations ("
                " name text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT name FROM public.bot_schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for migration in migrations:
                if migration.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql.encode())
                    await conn.execute(
                        "INSERT INTO public.bot_schema_migrations (name, checksum)"
                        " VALUES (%s, %s)",
                        (migration.name, migration.checksum),
                    )
                applied_now.append(migration.name)
            if applied_now:
                for path in sorted((directory or default_migrations_dir()).glob(
                        "repeatable/*.sql")):
                    await conn.execute(path.read_text(encoding="utf-8").encode())
            await set_app_password(conn, app_login)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
