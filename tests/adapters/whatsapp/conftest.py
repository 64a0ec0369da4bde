"""Fixtures of the WhatsApp adapter tests."""

from tests.adapters.whatsapp.fixtures import fake_twilio, whatsapp_settings

__all__ = ["fake_twilio", "whatsapp_settings"]
