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


def test_slack_oauth_mode_needs_client_secret_not_bot_token() -> None:
    with pytest.raises(ValueError, match="SLACK_CLIENT_SECRET"):
        Settings(_env_file=None, slack_signing_secret="s",  # type: ignore[call-arg]
                 slack_client_id="1.2")
    s = Settings(_env_file=None, slack_signing_secret="s",  # type: ignore[call-arg]
                 slack_client_id="1.2", slack_client_secret="c")
    assert s.slack_enabled and s.slack_oauth_enabled and s.slack_bot_token is None


def test_slack_socket_mode_needs_an_app_token() -> None:
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        Settings(_env_file=None, slack_socket_mode=True,  # type: ignore[call-arg]
                 slack_bot_token="xoxb-1")
    s = Settings(_env_file=None, slack_socket_mode=True,  # type: ignore[call-arg]
                 slack_bot_token="xoxb-1", slack_app_token="xapp-1")
    assert s.slack_enabled and not s.slack_signing_secret


def test_cli_socket_mode_flag_names_the_missing_app_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.cli import main

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--socket-mode"])
    assert "SLACK_APP_TOKEN" in str(exc.value)


def test_slack_support_console_needs_slack_and_its_workspace() -> None:
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        Settings(_env_file=None, handoff_slack_channel="C1")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="HANDOFF_SLACK_TEAM"):
        Settings(_env_file=None, handoff_slack_channel="C1",  # type: ignore[call-arg]
                 slack_signing_secret="s", slack_client_id="1.2", slack_client_secret="x")
    single = Settings(_env_file=None, handoff_slack_channel="C1",  # type: ignore[call-arg]
                      slack_signing_secret="s", slack_bot_token="xoxb-1")
    assert single.handoff_slack_team is None


def test_the_support_channel_is_given_by_id() -> None:
    with pytest.raises(ValueError, match="HANDOFF_SLACK_CHANNEL must be a channel id"):
        Settings(_env_file=None, handoff_slack_channel="#support",  # type: ignore[call-arg]
                 slack_signing_secret="s", slack_bot_token="xoxb-1")
    assert Settings(_env_file=None, handoff_slack_channel="").handoff_slack_channel is None  # type: ignore[call-arg]
