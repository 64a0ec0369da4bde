"""Settings: a channel switched on without its secrets fails at start, naming them."""

from __future__ import annotations

import pytest

from bot.settings import Settings


def test_defaults_need_no_environment() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert not s.whatsapp_enabled and not s.slack_enabled
    assert s.session_inactivity_hours == 7


def test_enabled_whatsapp_without_token_names_the_variable() -> None:
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        Settings(_env_file=None, twilio_account_sid="AC123")  # type: ignore[call-arg]


def test_enabled_slack_without_bot_token_names_the_variable() -> None:
    with pytest.raises(ValueError, match="SLACK_BOT_TOKEN"):
        Settings(_env_file=None, slack_signing_secret="s")  # type: ignore[call-arg]


def test_cli_reports_missing_secret_by_name(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["migrate"])
    assert "TWILIO_AUTH_TOKEN" in str(exc.value)
