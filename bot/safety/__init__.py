"""Safety checks applied to inbound messages before they reach the LLM."""

from bot.safety.injection import InjectionDetector, InjectionVerdict, mask_sample

__all__ = ["InjectionDetector", "InjectionVerdict", "mask_sample"]
