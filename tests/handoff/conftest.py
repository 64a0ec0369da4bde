"""Fixtures of the handoff tests: the WhatsApp ones, for a customer on WhatsApp."""

from tests.adapters.whatsapp.fixtures import fake_twilio, whatsapp_settings

__all__ = ["fake_twilio", "whatsapp_settings"]
