"""Text normalisation shared by the injection rules and the injection classifier.

Attackers hide trigger phrases behind look-alike characters, zero-width joiners,
leetspeak and letter spacing; every layer of the detector works on the same
canonical form so that one normalisation fix benefits rules and model alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["NormalizedText", "normalize", "strip_invisible"]

# Format characters (category Cf: ZWSP, ZWJ, bidi overrides, BOM, soft hyphen, ...)
# carry no visible content, so deleting them never changes what a human reads.
_KEEP_CONTROLS = {"\n", "\t", "\r"}

# Cyrillic/Greek letters that render like Latin ones. Mapped only inside tokens that
# also contain Latin letters, so genuine Russian or Greek text stays untouched.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x",
        "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a",
        "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u",
    }
)  # fmt: skip
_NON_ASCII_LETTER = re.compile(r"[^\x00-\x7f]")
_LATIN_LETTER = re.compile(r"[a-z]")

# Only substitutions that are common in obfuscated prompts; applied solely inside
# tokens that mix letters and digits, so amounts, dates and card numbers survive.
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_MIXED_TOKEN = re.compile(r"\b(?=[\w@$]*[a-z])(?=[\w@$]*[0-9@$])[\w@$]{3,}\b")

# Literal backslash escapes ("\n", "\t") typed into chat are a known way to fake
# line breaks in front of a forged instruction block.
_ESCAPED_BREAK = re.compile(r"\\\s?[nrt]\b")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*")
# "i g n o r e   a l l" — five or more single characters separated by spaces; a wider
# gap inside such a run marks a word boundary.
_SPACED_LETTERS = re.compile(r"(?<!\S)\w(?:[ \t]+\w(?!\S)){4,}")
_WIDE_GAP = re.compile(r"[ \t]{2,}")
_NON_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class NormalizedText:
    """The canonical views of one message.

    ``text`` is the casefolded single-line form used by rules and the model;
    ``lines`` keeps line breaks for rules anchored at line starts; ``compact``
    additionally joins letter-spaced words; ``squashed`` drops every non-word
    character, for phrase rules that must survive arbitrary spacing. ``raw`` is
    NFKC-only with invisible characters removed but case preserved, which base64
    detection needs.
    """

    raw: str
    lines: str
    text: str
    compact: str
    squashed: str


def strip_invisible(text: str) -> str:
    """Apply NFKC and drop format/control characters, keeping case and line breaks."""
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        if cat == "Cc" and ch not in _KEEP_CONTROLS:
            out.append(" ")
            continue
        out.append(ch)
    return "".join(out)


def _fold_token(match: re.Match[str]) -> str:
    return match.group(0).translate(_LEET)


def _unconfuse(text: str) -> str:
    if not _NON_ASCII_LETTER.search(text):
        return text
    words = text.split(" ")
    for i, word in enumerate(words):
        if _LATIN_LETTER.search(word) and _NON_ASCII_LETTER.search(word):
            words[i] = word.translate(_CONFUSABLES)
    return " ".join(words)


def _despace(match: re.Match[str]) -> str:
    return " ".join(
        part.replace(" ", "").replace("\t", "") for part in _WIDE_GAP.split(match.group(0))
    )


def _canon(text: str) -> str:
    return _MIXED_TOKEN.sub(_fold_token, _unconfuse(text))


def normalize(text: str) -> NormalizedText:
    """Return the canonical views of ``text`` (see :class:`NormalizedText`)."""
    raw = strip_invisible(text)
    folded = raw.casefold()
    folded = _ESCAPED_BREAK.sub("\n", folded)
    lines = _BLANK_LINES.sub("\n", _SPACES.sub(" ", folded)).strip()
    single = _canon(lines.replace("\n", " "))
    spaced = _SPACED_LETTERS.sub(_despace, folded.replace("\n", " "))
    compact = _canon(_SPACES.sub(" ", spaced).strip())
    squashed = _NON_WORD.sub("", compact)
    return NormalizedText(raw=raw, lines=lines, text=single, compact=compact, squashed=squashed)
