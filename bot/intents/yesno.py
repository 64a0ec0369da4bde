"""Is a short message a plain yes or a plain no to the question just asked?

Used wherever the bot asked something (a booking, a tool's confirmation) and the
person types the answer instead of tapping a button.
"""

from __future__ import annotations

import re


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


_YES = {"yes", "yeah", "yep", "yup", "yea", "sure", "ok", "okay", "confirm", "absolutely",
        "definitely", "please", "y"}
_YES_PHRASES = {"go ahead", "do it", "book it", "sounds good", "cancel it", "of course",
                "that one", "perfect"}
_NO = {"no", "nope", "nah", "n"}
_NO_PHRASES = {"not now", "never mind", "nevermind", "leave it", "don t", "dont",
               "cancel that", "maybe later", "forget it", "keep it"}


def is_affirmative(text: str) -> bool:
    """A short yes ("yes please", "ok book it") to the question just asked."""
    tokens = words(text)
    if not tokens:
        return text.strip() in ("👍", "✅")
    # "yes the 11am one" picks something else: that is a choice, not a plain yes
    if (len(tokens) > 5 or any(c.isdigit() for c in text) or set(tokens) & _NO
            or is_negative(text)):
        return False
    joined = " ".join(tokens)
    return tokens[0] in _YES or any(p in joined for p in _YES_PHRASES)


def is_negative(text: str) -> bool:
    """A short no ("no thanks", "never mind") to the question just asked; "no, the
    second one" is a correction, not a no."""
    tokens = words(text)
    if not tokens or len(tokens) > 3:
        return False
    joined = " ".join(tokens)
    return tokens[0] in _NO or any(p in joined for p in _NO_PHRASES)
