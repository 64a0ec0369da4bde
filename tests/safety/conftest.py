"""Fixtures of the safety tests: the WhatsApp ones, for hostile webhooks."""

from tests.adapters.whatsapp.fixtures import fake_twilio, whatsapp_settings

__all__ = ["fake_twilio", "whatsapp_settings"]
