"""The server's login: bot_app derived from the owner's, a clear error when it cannot log
in, and a password set by the migration when DATABASE_APP_URL names one."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.db.logins import AppLoginError, app_conninfo, check_app_login
from bot.db.migrate import apply_migrations
from testing.database import create_database, drop_database


def test_the_app_login_is_the_owners_with_bot_app_and_no_password() -> None:
    derived = conninfo_to_dict(app_conninfo(
        "postgresql://owner:secret@db.example.com:6543/bot?sslmode=require", None))
    assert derived == {"user": "bot_app", "host": "db.example.com", "port": "6543",
                       "dbname": "bot", "sslmode": "require"}
    assert app_conninfo("postgresql://owner@h/db", "postgresql://other@h/db") == (
        "postgresql://other@h/db")


async def test_a_login_that_fails_names_the_setting_to_fix(db_url: str) -> None:
    wrong = make_conninfo(app_conninfo(db_url, None), user="no_such_role")
    with pytest.raises(AppLoginError, match="DATABASE_APP_URL"):
        await check_app_login(wrong, 2)


async def test_migrating_with_a_password_gives_bot_app_that_password(
        external_server_url: str | None) -> None:
    if external_server_url is None:
        pytest.skip("no PostgreSQL reachable at BOT_TEST_EXTERNAL_DATABASE_URL")
    conninfo = create_database(external_server_url)
    try:
        app_login = make_conninfo(app_conninfo(conninfo, None), password="s3cret-for-bot_app")
        await apply_migrations(conninfo, app_login=app_login)
        with psycopg.connect(conninfo) as conn:
            row = conn.execute("SELECT rolpassword, rolcanlogin, rolsuper FROM pg_authid"
                               " WHERE rolname = 'bot_app'").fetchone()
        assert row is not None
        verifier, can_login, superuser = row
        # hashed before it left the client: the clear password is nowhere on the server
        assert verifier.startswith("SCRAM-SHA-256$") and "s3cret" not in verifier
        assert can_login and not superuser
    finally:
        drop_database(external_server_url, conninfo)
