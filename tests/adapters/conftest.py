"""Fixtures of the adapter tests (each channel keeps its own in a module of its own)."""

from tests.adapters.whatsapp_fixtures import fake_twilio, whatsapp_settings

__all__ = ["fake_twilio", "whatsapp_settings"]
