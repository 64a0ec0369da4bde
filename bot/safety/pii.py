"""Masking of personal identifiers in logs, metrics labels, traces and audit samples."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number: optional +, then 7+ digits possibly split by spaces, dots, dashes, parens.
_PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{5,}\d(?![\w])")
_LONG_DIGITS = re.compile(r"\d{8,}")
# Trace, conversation and message ids (UUIDs, hex trace ids) are kept intact: they join
# log lines up and are not personal data, but can hold 8+ digit runs.
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


def mask_pii(text: str) -> str:
    """Text with e-mail addresses, phone numbers and long digit runs masked."""
    text = _EMAIL.sub(lambda m: m.group()[0] + "***@***", text)

    def phone(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if len(digits) < 7:
            return match.group()
        return "+***" + digits[-2:]

    text = _PHONE.sub(phone, text)
    return _LONG_DIGITS.sub(lambda m: "*" * (len(m.group()) - 2) + m.group()[-2:], text)


def mask_sample(text: str, max_len: int = 80) -> str:
    """A short, masked excerpt for the audit log."""
    masked = mask_pii(" ".join(text.split()))
    return masked if len(masked) <= max_len else masked[: max_len - 1] + "…"


def mask_log_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: no phone number or e-mail leaves the process in a log line."""
    for key, value in event.items():
        if isinstance(value, str) and key not in ("timestamp", "level"):
            if key.endswith("_id") and _ID.fullmatch(value):
                continue
            event[key] = mask_pii(value)
    return event
