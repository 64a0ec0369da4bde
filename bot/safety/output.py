"""The output filter: every reply is checked before it is stored for delivery.

It removes or replaces what must never reach a user: the system prompt (its canary
string or long verbatim passages), internal errors and stack traces, internal
identifiers (UUIDs, database ids) and secrets (API keys, tokens, private keys).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SAFE_REPLY = ("Sorry, I can't share that. Is there something else I can help you with?")
ERROR_REPLY = ("Sorry, something went wrong on my side. Please try again in a moment.")

_TRACEBACK = re.compile(
    r"Traceback \(most recent call last\)|^\s*File \"[^\"]+\", line \d+|"
    r"\b(?:psycopg|sqlalchemy|asyncpg|anthropic|openai)\.\w*(?:Error|Exception)\b|"
    r"\b\w+(?:Error|Exception): .+ at 0x[0-9a-f]+", re.MULTILINE)
_SECRETS = [
    re.compile(r"\bsk-(?:ant-)?[A-Za-z0-9_-]{16,}"),           # Anthropic / OpenAI keys
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),             # Slack tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),                         # AWS access key id
    re.compile(r"\bAC[0-9a-f]{32}\b"),                           # Twilio account SID
    re.compile(r"\bSK[0-9a-f]{32}\b"),                           # Twilio API key SID
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),              # GitHub tokens
    re.compile(r"\blsv2_[A-Za-z0-9_]{20,}\b"),                  # LangSmith keys
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{20,}=*"),
    re.compile(r"(?i)\b(?:api[_-]?key|secret|password|token)\s*[:=]\s*\S{8,}"),
    re.compile(r"\bpostgres(?:ql)?://[^\s:]+:[^\s@]+@\S+"),      # connection strings
]
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_DB_ID = re.compile(r"\b(?:contact|conversation|session|message|user|row|booking)_?id\s*[:=#]?\s*"
                    r"[0-9a-f-]{1,36}\b", re.I)
_OVERLAP_CHARS = 60


@dataclass
class FilterResult:
    """The text to send and what was found (one entry per kind, for the audit log)."""

    text: str
    findings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.findings)


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


class OutputFilter:
    """Checks replies against the process's canaries and protected prompt texts."""

    def __init__(self, canaries: list[str] | None = None,
                 protected_texts: list[str] | None = None) -> None:
        self.canaries = [c for c in (canaries or []) if c]
        self._shingles = self._build_shingles(protected_texts or [])

    @staticmethod
    def _build_shingles(texts: list[str]) -> set[str]:
        shingles: set[str] = set()
        for text in texts:
            norm = _normalise(text)
            for start in range(0, max(0, len(norm) - _OVERLAP_CHARS) + 1, 10):
                shingles.add(norm[start:start + _OVERLAP_CHARS])
        return shingles

    def _leaks_prompt(self, text: str) -> bool:
        if any(c in text for c in self.canaries):
            return True
        if not self._shingles:
            return False
        norm = _normalise(text)
        return any(norm[i:i + _OVERLAP_CHARS] in self._shingles
                   for i in range(0, max(0, len(norm) - _OVERLAP_CHARS) + 1))

    def check(self, text: str) -> FilterResult:
        if self._leaks_prompt(text):
            return FilterResult(SAFE_REPLY, ["system_prompt_leak"])
        if _TRACEBACK.search(text):
            return FilterResult(ERROR_REPLY, ["internal_error"])
        findings: list[str] = []
        for pattern in _SECRETS:
            text, n = pattern.subn("[removed]", text)
            if n and "secret" not in findings:
                findings.append("secret")
        text, n = _DB_ID.subn("", text)
        text, m = _UUID.subn("", text)
        if n or m:
            findings.append("internal_id")
            text = re.sub(r"[ \t]{2,}", " ", text).strip()
        return FilterResult(text, findings)
