"""WhatsApp through Twilio: inbound webhooks, outbound REST API, WhatsApp's formatting."""

from adapters.whatsapp.adapter import WhatsAppAdapter

__all__ = ["WhatsAppAdapter"]
