"""Outgoing event hooks: signed webhooks and Slack alerts for operators' own systems."""

from bot.hooks.dispatcher import EventHooks
from bot.hooks.events import EventType, HookEvent

__all__ = ["EventHooks", "EventType", "HookEvent"]
