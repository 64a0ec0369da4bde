"""Who is writing in the web chat: a verified user of the embedding website, or an
anonymous visitor the server recognises by a cookie it issued.

With WEB_IDENTITY_SECRET set, a request naming a `user` carries `user_hash`, the hex
HMAC-SHA256 of the user id under that secret, computed by the website's server (the
pattern Intercom and Chatwoot call identity verification). Without a user, the visitor
is whoever holds the `bot_visitor` cookie: a random token, never stored (the identity
is its hash), HttpOnly so page scripts cannot read it. A client can name neither another
user nor another visitor.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from pydantic import SecretStr

VISITOR_COOKIE = "bot_visitor"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
NO_SECRET = ("This chat does not accept a named user: the bot's operator must set "
             "WEB_IDENTITY_SECRET and have the website send user_hash (docs/web-chat.md).")
BAD_HASH = "user_hash is missing or does not match the user"


class IdentityRefused(Exception):
    """A request whose claimed identity cannot be accepted (status 400 or 401)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class WebIdentity:
    #: the sender id of the web channel: "user:<id>" or "visitor:<hash of the token>"
    sender_id: str
    #: a visitor token to set as the cookie (a visitor seen for the first time)
    new_token: str | None = None


def user_hash(secret: str, user: str) -> str:
    """What the embedding website's server computes for its signed-in user."""
    return hmac.new(secret.encode(), user.encode(), hashlib.sha256).hexdigest()


def identify(user: str | None, given_hash: str | None, cookie: str | None,
             secret: SecretStr | None) -> WebIdentity:
    if user is not None:
        if secret is None:
            raise IdentityRefused(400, NO_SECRET)
        expected = user_hash(secret.get_secret_value(), user)
        if given_hash is None or not hmac.compare_digest(expected.encode(),
                                                         given_hash.lower().encode()):
            raise IdentityRefused(401, BAD_HASH)
        return WebIdentity("user:" + user)
    if cookie is not None and _TOKEN.match(cookie):
        return WebIdentity(_visitor(cookie))
    token = secrets.token_urlsafe(32)
    return WebIdentity(_visitor(token), new_token=token)


def _visitor(token: str) -> str:
    return "visitor:" + hashlib.sha256(token.encode()).hexdigest()[:40]
