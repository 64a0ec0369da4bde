"""The operators' surface (dashboard, API docs, metrics), mixed into `bot.settings.Settings`."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class OperationsSettings(BaseSettings):
    # the admin dashboard: off unless ADMIN_TOKEN is set
    admin_token: SecretStr | None = None
    admin_session_hours: float = 12.0
    # the cookie only over HTTPS; also on whenever PUBLIC_BASE_URL is https://
    admin_cookie_secure: bool = False
    admin_login_rate_limit: str = "10/minute"
    # /docs, /redoc and /openapi.json (off: they describe every route to anyone)
    api_docs: bool = False
    # when set, GET /metrics needs "Authorization: Bearer <token>"
    metrics_token: SecretStr | None = None
    # messages older than this many days are deleted (unset: kept); audit records stay
    retention_days: int | None = Field(default=None, ge=1)
