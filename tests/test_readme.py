"""The Slack app manifest in the README matches what the adapter needs."""

from __future__ import annotations

import re
from typing import Any

import yaml

from bot.settings import Settings
from tests.conftest import ROOT


def slack_manifest() -> dict[str, Any]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Connect Slack"):]
    match = re.search(r"```yaml\n(.*?)```", section, flags=re.S)
    assert match, "the Connect Slack section has a YAML manifest"
    indent = len(match.group(1)) - len(match.group(1).lstrip(" "))
    manifest: dict[str, Any] = yaml.safe_load(
        "\n".join(line[indent:] for line in match.group(1).splitlines()))
    return manifest


def test_manifest_subscribes_what_the_adapter_handles() -> None:
    settings = slack_manifest()["settings"]
    assert {"app_mention", "message.im", "message.channels"} <= set(
        settings["event_subscriptions"]["bot_events"])
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith("/slack/events")


def test_manifest_grants_the_scopes_the_install_flow_requests() -> None:
    granted = set(slack_manifest()["oauth_config"]["scopes"]["bot"])
    requested = set(Settings(_env_file=None).slack_scopes.split(","))  # type: ignore[call-arg]
    assert requested <= granted
    assert slack_manifest()["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth_redirect")
