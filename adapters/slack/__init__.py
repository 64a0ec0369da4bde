"""Slack through slack-bolt: mentions, DMs and threads, and the support console."""

from adapters.slack.adapter import SlackAdapter

__all__ = ["SlackAdapter"]
