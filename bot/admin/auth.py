"""Admin login: a token typed into a form, then a signed session cookie.

The cookie (HttpOnly, SameSite=Strict, path /admin) holds the staff name and a
CSRF token, signed and timed with itsdangerous under a key derived from
ADMIN_TOKEN, so rotating the token logs everyone out and any web process behind a
load balancer accepts any other's cookie. Every POST must echo the CSRF token
(form field or `X-CSRF-Token` header).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.db.pool import Database
from bot.settings import Settings

SESSION_COOKIE = "bot_admin"
LOGIN_COOKIE = "bot_admin_login"
CSRF_HEADER = "X-CSRF-Token"
_STAFF_NAME = re.compile(r"^[\w][\w .'-]{0,39}$")


@dataclass(frozen=True)
class AdminSession:
    """A logged-in operator."""

    staff: str
    csrf: str


class AdminAuth:
    """Checks the token, issues and reads session cookies, checks CSRF tokens."""

    def __init__(self, settings: Settings, db: Database) -> None:
        assert settings.admin_token is not None, "the dashboard needs ADMIN_TOKEN"
        self.db = db
        self._token = settings.admin_token.get_secret_value().encode()
        key = hmac.new(self._token, b"bot-admin-session-v1", hashlib.sha256).hexdigest()
        self._serializer = URLSafeTimedSerializer(key, salt="admin-session")
        self.max_age_s = int(settings.admin_session_hours * 3600)
        # behind https (PUBLIC_BASE_URL) the cookie never travels over plain http
        self.secure = settings.admin_cookie_secure or (
            settings.public_base_url or "").lower().startswith("https://")

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._token)

    @staticmethod
    def valid_staff_name(name: str) -> bool:
        return bool(_STAFF_NAME.match(name))

    def start_session(self, response: Response, staff: str) -> AdminSession:
        session = AdminSession(staff=staff, csrf=secrets.token_urlsafe(24))
        value = self._serializer.dumps({"staff": session.staff, "csrf": session.csrf})
        response.set_cookie(SESSION_COOKIE, value, max_age=self.max_age_s, path="/admin",
                            httponly=True, samesite="strict", secure=self.secure)
        return session

    async def end_session(self, response: Response, session: AdminSession) -> None:
        """Log out: the cookie is deleted, and the session revoked server-side, so a copy
        of the cookie no longer works either (its CSRF token names the session)."""
        response.delete_cookie(SESSION_COOKIE, path="/admin", httponly=True, samesite="strict",
                               secure=self.secure)
        async with self.db.as_system() as conn:
            await conn.execute(
                "DELETE FROM app.admin_revoked_sessions WHERE expires_at < now()")
            await conn.execute(
                "INSERT INTO app.admin_revoked_sessions (session_id, expires_at)"
                " VALUES (%s, now() + make_interval(secs => %s)) ON CONFLICT DO NOTHING",
                (session.csrf, self.max_age_s))

    async def session(self, request: Request) -> AdminSession | None:
        value = request.cookies.get(SESSION_COOKIE)
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age_s)
        except BadSignature:
            return None
        session = AdminSession(staff=str(data["staff"]), csrf=str(data["csrf"]))
        async with self.db.as_system() as conn:
            cur = await conn.execute("SELECT 1 FROM app.admin_revoked_sessions"
                                     " WHERE session_id = %s", (session.csrf,))
            revoked = await cur.fetchone() is not None
        return None if revoked else session

    def login_nonce(self, response: Response) -> str:
        """A double-submit token for the login form itself (no session yet)."""
        nonce = secrets.token_urlsafe(24)
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path="/admin", httponly=True,
                            samesite="strict", secure=self.secure)
        return nonce

    @staticmethod
    def login_nonce_matches(request: Request, given: str) -> bool:
        expected = request.cookies.get(LOGIN_COOKIE, "")
        # as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500)
        return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())

    async def require(self, request: Request, response: Response) -> AdminSession:
        """FastAPI dependency for the JSON API: a session, and CSRF on unsafe methods."""
        response.headers["Cache-Control"] = "no-store"  # answers hold personal data
        session = await self.session(request)
        if session is None:
            raise HTTPException(status_code=401, detail="log in at /admin/login")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            given = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
        return session
