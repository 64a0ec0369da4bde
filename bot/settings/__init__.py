"""Runtime configuration: the only place the environment is read.

`Settings()` is built once by the app factory or the CLI and handed down; nothing
reads the environment at import time. Every limit and timeout lives here with a
default, and `.env.example` documents each variable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from bot.settings.agent import AgentSettings
from bot.settings.delivery import DeliverySettings
from bot.settings.limits import LimitSettings
from bot.settings.operations import OperationsSettings


class MissingSecretError(ValueError):
    """An enabled channel lacks one of its required variables."""


class Settings(AgentSettings, DeliverySettings, LimitSettings, OperationsSettings):
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
    database_app_url: str | None = None
    db_pool_min_size: int = 2
    db_pool_max_size: int = 10
    db_connect_timeout_s: float = 5.0
    db_statement_timeout_ms: int = 15_000
    db_prepared_statements: bool = True
    run_migrations_on_start: bool = True

    # --- queue and worker
    # Stores of inbound messages running at once; messages arriving while all are busy
    # are stored together afterwards (one statement, one commit), at most
    # ingest_batch_max at a time
    ingest_max_in_flight: int = Field(default=4, ge=1, le=64)
    ingest_batch_max: int = Field(default=100, ge=1, le=1000)
    worker_in_process: bool = True
    worker_concurrency: int = 16
    # `bot worker` lowers its CPU priority by this much (os.nice) so that a web process on
    # the same machine keeps acknowledging webhooks first when turns pile up; 0: unchanged
    worker_nice: int = Field(default=19, ge=0, le=19)
    # On shutdown a worker lets running turns finish for this long, then cancels them
    # (their messages are answered after restart, as after a crash).
    worker_shutdown_grace_s: float = Field(default=10.0, ge=0)
    # Start-up objects (models, vocabularies) are exempted from garbage collection
    # (gc.freeze): full collections otherwise pause every request for ~150 ms.
    gc_freeze_after_start: bool = True
    queue_poll_interval_s: float = 0.2
    queue_heartbeat_interval_s: float = 5.0
    queue_stalled_after_s: float = 20.0
    queue_recovery_interval_s: float = 10.0
    queue_worker_restart_s: float = 1.0  # after the worker stopped on a database error
    # A drain the database failed (no free connection, a statement timed out, a restart)
    # is queued again after this, rather than left to the recovery pass.
    queue_drain_error_retry_s: float = Field(default=2.0, gt=0)
    queue_pool_min_size: int = Field(default=4, ge=1)
    # seconds between two deletions of expired remembered facts, in each worker
    purge_expired_interval_s: float = Field(default=600.0, gt=0)
    turn_max_attempts: int = 5

    # --- conversations
    session_inactivity_hours: float = 7.0
    history_max_messages: int = 20
    max_message_chars: int = 4000

    # --- safety: rate limits and body sizes in limits.py; audit
    audit_user_prompts: bool = True
    # --- safety: prompt injection (bot/safety/injection.py scores 0..1)
    injection_harden_threshold: float = 0.5
    injection_refuse_threshold: float = 0.9
    # MiniLM layer of the injection detector (~120 MB; one encoder pass, run only when it
    # could change the outcome); off = rules + n-grams
    injection_embedding: bool = True

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
    handoff_after_safety_flags: int = 3
    handoff_sweep_interval_s: float = 30.0
    # the Slack support console (adapters/slack_console.py): a channel id, and for
    # multi-workspace (OAuth) installs the workspace it is in
    handoff_slack_channel: str | None = None
    handoff_slack_team: str | None = None

    # --- web chat
    web_reply_timeout_s: float = 30.0
    web_session_ttl_hours: float = 24.0 * 7
    web_identity_secret: SecretStr | None = None

    # --- bot definition
    bot_name: str = "Assistant"
    bot_definition: Path | None = None
    prepare_bot_on_start: bool = True
    model_cache_dir: Path | None = None

    # --- knowledge base (bot/knowledge)
    kb_chunk_max_chars: int = 1200
    kb_search_results: int = 3
    kb_answer_min_confidence: float = 0.5

    # --- WhatsApp through Twilio (enabled when TWILIO_ACCOUNT_SID is set)
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None
    # The public https URL Twilio calls (signatures cover it); also builds status callbacks.
    public_base_url: str | None = None
    # Proxies (addresses or networks) whose X-Forwarded-Proto/-Host are believed.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    whatsapp_burst_window_s: float = 1.5
    whatsapp_burst_max_messages: int = 10
    whatsapp_burst_max_wait_s: float = 6.0
    whatsapp_max_body_chars: int = 1600
    whatsapp_max_form_bytes: int = 256 * 1024
    whatsapp_send_attempts: int = 4
    whatsapp_retry_base_s: float = 0.5
    whatsapp_retry_max_wait_s: float = 30.0
    whatsapp_http_timeout_s: float = 15.0
    whatsapp_content_api: bool = False
    whatsapp_session_window_hours: float = 24.0
    whatsapp_outside_window_content_sid: str | None = None
    whatsapp_opt_out_keywords: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["STOP", "STOPALL", "UNSUBSCRIBE"])
    whatsapp_opt_in_keywords: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["START", "UNSTOP"])
    whatsapp_opt_out_reply: str = ("You will not get any more messages from us here. "
                                   "Reply START to get messages again.")
    whatsapp_opt_in_reply: str = "Welcome back! You will get messages from us again."
    whatsapp_typing_after_s: float = 1.0
    whatsapp_media_max_bytes: int = 16 * 1024 * 1024

    # --- Slack (enabled when SLACK_SIGNING_SECRET is set)
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    # multi-workspace (OAuth install flow) instead of one bot token
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_scopes: str = (
        "app_mentions:read,channels:history,groups:history,im:history,chat:write,users:read"
    )
    slack_oauth_state_expiration_s: int = 600
    # Socket Mode (`bot serve --socket-mode`) for development behind NAT
    slack_socket_mode: bool = False
    slack_app_token: SecretStr | None = None
    slack_ignore_bots: bool = True
    slack_post_interval_s: float = 1.0
    slack_rate_limit_retries: int = 2
    slack_user_cache_size: int = 2048
    slack_user_lookup_timeout_s: float = 1.0
    slack_user_lookup_concurrency: int = Field(default=2, ge=1)
    slack_assistant_status: bool = True
    slack_placeholder_text: str = "_thinking…_"
    slack_streaming: bool = False
    slack_stream_buffer_chars: int = 256
    slack_sent_check_limit: int = 200

    # --- operations: admin dashboard, API docs, metrics (operations.py)

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

    @field_validator("trusted_proxies", "whatsapp_opt_out_keywords", "whatsapp_opt_in_keywords",
                     mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("handoff_slack_channel")
    @classmethod
    def _slack_channel_id(cls, value: str | None) -> str | None:
        # Slack events carry channel ids, so a channel name would silently never match.
        if value and not re.fullmatch(r"[CG][A-Z0-9]+", value):
            raise ValueError("HANDOFF_SLACK_CHANNEL must be a channel id such as C0123ABC "
                             "(channel details → About), not a channel name")
        return value or None

    @model_validator(mode="after")
    def _enabled_channels_have_secrets(self) -> Settings:
        required: dict[str, tuple[object, dict[str, object]]] = {
            "TWILIO_ACCOUNT_SID": (
                self.twilio_account_sid,
                {"TWILIO_AUTH_TOKEN": self.twilio_auth_token,
                 "TWILIO_WHATSAPP_FROM": self.twilio_whatsapp_from},
            ),
        }
        # Slack: one bot token (single workspace), or client id + secret (OAuth install flow).
        if self.slack_client_id:
            required["SLACK_CLIENT_ID"] = (
                self.slack_client_id, {"SLACK_CLIENT_SECRET": self.slack_client_secret,
                                       "SLACK_SIGNING_SECRET": self.slack_signing_secret})
        else:
            required["SLACK_SIGNING_SECRET"] = (
                self.slack_signing_secret, {"SLACK_BOT_TOKEN": self.slack_bot_token})
        required["SLACK_SOCKET_MODE"] = (
            self.slack_socket_mode, {"SLACK_APP_TOKEN": self.slack_app_token,
                                     "SLACK_BOT_TOKEN": self.slack_bot_token})
        # The Slack support console needs Slack itself, and a workspace when there are several.
        required["HANDOFF_SLACK_CHANNEL"] = (
            self.handoff_slack_channel,
            {"SLACK_SIGNING_SECRET or SLACK_SOCKET_MODE": self.slack_enabled}
            | ({"HANDOFF_SLACK_TEAM": self.handoff_slack_team} if self.slack_client_id else {}))
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

    @model_validator(mode="after")
    def _injection_thresholds_ordered(self) -> Settings:
        if not 0.0 < self.injection_harden_threshold <= self.injection_refuse_threshold <= 1.0:
            raise ValueError("need 0 < INJECTION_HARDEN_THRESHOLD <= INJECTION_REFUSE_THRESHOLD"
                             " <= 1")
        return self

    @property
    def hook_url_list(self) -> list[str]:
        return [u.strip() for u in self.hook_urls.split(",") if u.strip()]

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.twilio_account_sid)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_signing_secret or self.slack_socket_mode)

    @property
    def slack_oauth_enabled(self) -> bool:
        return bool(self.slack_client_id)

    @property
    def definition_path(self) -> Path | None:
        """BOT_DEFINITION, or the example bot shipped with the project when unset."""
        if self.bot_definition is not None:
            return self.bot_definition
        shipped = Path(__file__).resolve().parents[2] / "bots" / "studio" / "bot.yaml"
        return shipped if shipped.exists() else None

    @property
    def models_dir(self) -> Path:
        """Where built and trained models are kept (MODEL_CACHE_DIR, or DATA_DIR/models)."""
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def embedded_database_dir(self) -> Path:
        return self.data_dir / "postgres"
