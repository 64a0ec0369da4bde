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


# Audit samples are stricter than log lines: whole identifiers become placeholders
# (nothing of them is kept) and shorter digit runs count too.
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:\s?[A-Za-z0-9]{4}){2,7}(?:\s?[A-Za-z0-9]{1,4})?\b")
# Seven or more digits, allowing the separators people type inside phone numbers.
_SAMPLE_PHONE = re.compile(r"(?<!\w)\+?\d(?:[\s().-]{0,2}\d){6,}(?!\w)")
_DIGITS = re.compile(r"\d{5,}")
_WS = re.compile(r"\s+")


def mask_sample(text: str, max_len: int = 80) -> str:
    """Short, PII-masked excerpt of ``text`` for the audit log (prompts, security events).

    E-mail addresses, IBAN-like strings, phone numbers and runs of five or more
    digits are replaced by placeholders *before* truncation, so a cut can never
    leave half a number behind.
    """
    masked = "".join(ch if ch.isprintable() else " " for ch in text)
    masked = _EMAIL.sub("<email>", masked)
    masked = _IBAN.sub("<iban>", masked)
    masked = _SAMPLE_PHONE.sub("<phone>", masked)
    masked = _DIGITS.sub("<num>", masked)
    masked = _WS.sub(" ", masked).strip()
    if len(masked) <= max_len:
        return masked
    cut = masked[: max(0, max_len - 1)]
    # Don't leave a half placeholder such as "<pho" at the cut.
    open_at = cut.rfind("<")
    if open_at != -1 and ">" not in cut[open_at:]:
        cut = cut[:open_at]
    return cut.rstrip() + "…"


def mask_log_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: no phone number or e-mail leaves the process in a log line."""
    for key, value in event.items():
        if isinstance(value, str) and key not in ("timestamp", "level"):
            if key.endswith("_id") and _ID.fullmatch(value):
                continue
            event[key] = mask_pii(value)
    return event
