"""Detection of instructions smuggled inside base64 blobs.

A chat user has little reason to send base64 at all, and every reason to if they want
an instruction to slip past word filters while the LLM still decodes it. Candidate
runs are decoded; decoded text is fed back through the ordinary rules by the caller.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["BLOB_MIN_CHARS", "decoded_payloads", "longest_blob"]

# 16 base64 chars = 12 bytes: the shortest payload worth decoding ("ignore rules").
_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
# A blob this long is flagged even if it decodes to nothing readable: no customer
# message needs a few hundred characters of opaque base64.
BLOB_MIN_CHARS = 200
_MAX_CANDIDATES = 8


def _looks_encoded(token: str) -> bool:
    # Plain long words, numbers and snake_case identifiers are not base64; real
    # encodings mix cases and digits almost always.
    has_upper = any(c.isupper() for c in token)
    has_lower = any(c.islower() for c in token)
    has_digit_or_sym = any(c.isdigit() or c in "+/=" for c in token)
    return has_upper and has_lower and (has_digit_or_sym or len(token) >= 24)


def _decode(token: str) -> str | None:
    core = token.rstrip("=")
    padded = core + "=" * (-len(core) % 4)
    try:
        if "-" in core or "_" in core:
            data = base64.urlsafe_b64decode(padded)
        else:
            data = base64.b64decode(padded, validate=True)
        text = data.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not text:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\n\t")
    letters = sum(1 for c in text if c.isalpha() or c == " ")
    # Random binary that happens to be valid UTF-8 is rarely >90% printable and
    # >60% letters/spaces; natural-language payloads are.
    if printable / len(text) < 0.9 or letters / len(text) < 0.6:
        return None
    return text


def decoded_payloads(raw: str) -> list[str]:
    """Readable texts hidden in base64 runs of ``raw`` (case-preserved input)."""
    found: list[str] = []
    for match in _CANDIDATE.finditer(raw):
        token = match.group(0)
        if not _looks_encoded(token):
            continue
        text = _decode(token)
        if text is not None:
            found.append(text)
        if len(found) >= _MAX_CANDIDATES:
            break
    return found


def longest_blob(raw: str) -> int:
    """Length of the longest base64-looking run in ``raw``."""
    best = 0
    for match in _CANDIDATE.finditer(raw):
        token = match.group(0)
        if len(token) > best and _looks_encoded(token):
            best = len(token)
    return best
