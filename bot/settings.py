"""Runtime configuration: the only place the environment is read.

`Settings()` is built once by the app factory or the CLI and handed down; nothing
reads the environment at import time. Every limit and timeout lives here with a
default, and `.env.example` documents each variable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MissingSecretError(ValueError):
    """An enabled channel lacks one of its required variables."""


class Settings(BaseSettings):
    """All configuration of one bot process, read from the environment and `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    # --- server
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    data_dir: Path = Path(".data")

    # --- database
    database_url: str | None = None
    db_pool_min_size: int = 2
    db_pool_max_size: int = 10
    db_connect_timeout_s: float = 5.0
    db_statement_timeout_ms: int = 15_000
    db_prepared_statements: bool = True
    run_migrations_on_start: bool = True

    # --- queue and worker
    worker_in_process: bool = True
    worker_concurrency: int = 16
    queue_poll_interval_s: float = 0.2
    queue_heartbeat_interval_s: float = 5.0
    queue_stalled_after_s: float = 20.0
    queue_recovery_interval_s: float = 10.0
    turn_max_attempts: int = 5

    # --- conversations
    session_inactivity_hours: float = 7.0
    history_max_messages: int = 20
    max_message_chars: int = 4000

    # --- safety: rate limits ("N/second|minute|hour|day"), audit
    redis_url: str | None = None
    rate_limit_user: str = "10/minute"
    rate_limit_session: str = "50/hour"
    rate_limit_ip: str = "10/minute"
    rate_limit_global: str = "100/minute"
    audit_user_prompts: bool = True

    # --- human handoff
    handoff_timezone: str = "UTC"
    handoff_hours: str = "mon-sun 07:00-20:00"
    handoff_holidays: str = ""
    handoff_expected_wait_min: int = 10
    handoff_remind_after_min: float = 10.0
    handoff_notify_user_after_min: float = 30.0
    handoff_mention: str = ""
    handoff_note_prefix: str = "//"
    handoff_after_unhelpful_turns: int = 3
    handoff_sweep_interval_s: float = 30.0

    # --- web chat
    web_reply_timeout_s: float = 30.0
    web_session_ttl_hours: float = 24.0 * 7

    # --- bot definition
    bot_name: str = "Assistant"
    bot_definition: Path | None = None

    # --- WhatsApp through Twilio (enabled when TWILIO_ACCOUNT_SID is set)
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None

    # --- Slack (enabled when SLACK_SIGNING_SECRET is set)
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None

    # --- operations: admin dashboard (off unless ADMIN_TOKEN is set)
    admin_token: SecretStr | None = None
    admin_session_hours: float = 12.0
    admin_cookie_secure: bool = False
    admin_login_rate_limit: str = "10/minute"

    # --- operations: outgoing event hooks and Slack alerts
    hook_urls: str = ""
    hook_secret: SecretStr | None = None
    hook_timeout_s: float = 5.0
    hook_max_attempts: int = 5
    hook_retry_initial_s: float = 1.0
    hook_retry_max_s: float = 60.0
    hook_queue_size: int = 1000
    hook_concurrency: int = 4
    hook_cost_alert_usd: float = 0.0
    hook_cost_check_interval_s: float = 60.0
    slack_alerts_channel: str | None = None

    # --- testing hooks: point SDK clients at loopback fakes
    twilio_api_base_url: str | None = Field(default=None)
    slack_api_base_url: str | None = Field(default=None)

    @model_validator(mode="after")
    def _enabled_channels_have_secrets(self) -> Settings:
        required: dict[str, tuple[object, dict[str, object]]] = {
            "TWILIO_ACCOUNT_SID": (
                self.twilio_account_sid,
                {"TWILIO_AUTH_TOKEN": self.twilio_auth_token,
                 "TWILIO_WHATSAPP_FROM": self.twilio_whatsapp_from},
            ),
            "SLACK_SIGNING_SECRET": (
                self.slack_signing_secret,
                {"SLACK_BOT_TOKEN": self.slack_bot_token},
            ),
        }
        for switch, (value, needs) in required.items():
            if not value:
                continue
            for name, secret in needs.items():
                if not secret:
                    raise MissingSecretError(f"{name} must be set because {switch} is set")
        return self

    @model_validator(mode="after")
    def _alerts_and_hooks_have_secrets(self) -> Settings:
        if self.slack_alerts_channel and not self.slack_bot_token:
            raise MissingSecretError("SLACK_BOT_TOKEN must be set because SLACK_ALERTS_CHANNEL"
                                     " is set")
        if self.hook_urls.strip() and not self.hook_secret:
            raise MissingSecretError("HOOK_SECRET must be set because HOOK_URLS is set")
        return self

    @property
    def hook_url_list(self) -> list[str]:
        return [u.strip() for u in self.hook_urls.split(",") if u.strip()]

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.twilio_account_sid)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_signing_secret)

    @property
    def definition_path(self) -> Path | None:
        """BOT_DEFINITION, or the example bot shipped with the project when unset."""
        if self.bot_definition is not None:
            return self.bot_definition
        shipped = Path(__file__).resolve().parents[1] / "bots" / "studio" / "bot.yaml"
        return shipped if shipped.exists() else None

    @property
    def embedded_database_dir(self) -> Path:
        return self.data_dir / "postgres"
