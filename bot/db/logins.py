"""Which login the server uses: the owner migrates, `bot_app` serves.

DATABASE_URL names the owner (it runs the migrations). The server and its workers log in
as `bot_app` (migrations/0730_app_login_role.sql): DATABASE_APP_URL when set, otherwise
DATABASE_URL with the user replaced and no password, which works wherever the owner's
connection is trusted by address or socket (the embedded server, a local PostgreSQL).
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

APP_ROLE = "bot_app"

log = structlog.get_logger(__name__)


class AppLoginError(RuntimeError):
    """The server cannot log in as its application role."""


def app_conninfo(owner_conninfo: str, configured: str | None) -> str:
    """The server's connection string: DATABASE_APP_URL, or the owner's with `bot_app`."""
    if configured:
        return configured
    params = conninfo_to_dict(owner_conninfo)
    params.pop("password", None)
    params["user"] = APP_ROLE
    return make_conninfo("", **params)


async def set_app_password(owner: psycopg.AsyncConnection[Any], app_login: str | None) -> None:
    """Give bot_app the password DATABASE_APP_URL names (run by the owner at migration),
    so one setting configures both sides. Hashed here (SCRAM, by libpq), so the password
    never reaches the server's statement log in clear."""
    if not app_login:
        return
    params = conninfo_to_dict(app_login)
    password = params.get("password")
    if params.get("user") != APP_ROLE or not password:
        return
    verifier = owner.pgconn.encrypt_password(str(password).encode(), APP_ROLE.encode(),
                                             b"scram-sha-256")
    await owner.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
        sql.Identifier(APP_ROLE), sql.Literal(verifier.decode())))


_PRIVILEGE = """
SELECT r.rolsuper AS superuser,
       EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = 'app'
                  AND t.tableowner = current_user) AS owner
  FROM pg_roles r WHERE r.rolname = current_user
"""


async def check_app_login(conninfo: str, timeout_s: float) -> None:
    """Fail at start, naming the setting, when the app login does not work; warn when it
    is more privileged than it should be (a superuser or the tables' owner)."""
    try:
        conn = await psycopg.AsyncConnection.connect(
            conninfo, connect_timeout=max(1, int(timeout_s)), autocommit=True)
    except psycopg.OperationalError as exc:
        raise AppLoginError(
            f"cannot log in as the application role: {str(exc).strip()}. Set "
            "DATABASE_APP_URL to a login that is a member of authenticated and "
            "service_role (docs/security.md), or give bot_app a password there") from exc
    async with conn:
        cur = await conn.execute(_PRIVILEGE)
        row = await cur.fetchone()
    if row is not None and (row[0] or row[1]):
        log.warning("app_login_privileged", superuser=row[0], table_owner=row[1],
                    detail="the server should log in as bot_app (docs/security.md)")
