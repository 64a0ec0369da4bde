"""Button payloads of the studio's replies, and reading them back.

A tapped option comes back as the inbound `payload`; routing on it needs no
classifier (the bot definition maps the prefixes to intents). Formats:
`book:<class_id>`, `confirm_book:<class_id>`, `cancel:<booking_id>`,
`confirm_cancel:<booking_id>`, `plan:<slug>`, and `cancel_flow` (the "no, leave it"
answer to any confirmation).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, cast

Action = Literal["book", "confirm_book", "cancel", "confirm_cancel", "plan", "cancel_flow"]
_WITH_NUMBER = ("book", "confirm_book", "cancel", "confirm_cancel")
CANCEL_FLOW = "cancel_flow"


class Payload(NamedTuple):
    """A parsed payload: the action and its argument (a number as text, or a slug)."""

    action: Action
    arg: str


def book(class_id: int) -> str:
    return f"book:{class_id}"


def confirm_book(class_id: int) -> str:
    return f"confirm_book:{class_id}"


def cancel_booking(booking_id: int) -> str:
    return f"cancel:{booking_id}"


def confirm_cancel(booking_id: int) -> str:
    return f"confirm_cancel:{booking_id}"


def plan(slug: str) -> str:
    return f"plan:{slug}"


def parse_payload(payload: str | None) -> Payload | None:
    """The studio action a payload stands for, or None when it is not one of ours."""
    if not payload:
        return None
    if payload == CANCEL_FLOW:
        return Payload("cancel_flow", "")
    action, sep, arg = payload.partition(":")
    if not sep or not arg:
        return None
    if action in _WITH_NUMBER and arg.isdigit():
        return Payload(cast(Action, action), arg)
    if action == "plan":
        return Payload("plan", arg)
    return None
