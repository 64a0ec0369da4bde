"""Signing hook deliveries, and the check a receiver runs.

Header: `X-Bot-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
HMAC-SHA256 keyed by HOOK_SECRET over `"<t>." + raw body`. A receiver recomputes
it over the exact bytes received, compares in constant time, and rejects a
timestamp too far from its clock (replays). Same scheme as Stripe's, so existing
receiver code can be reused.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Bot-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body` signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300,
           now: float | None = None) -> bool:
    """True when `header` signs `body` with `secret` within `tolerance_s` of now."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
        given = fields["v1"]
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
