"""Rendering knowledge passages for chat."""

from __future__ import annotations

from bot.knowledge.render import unwrap


def test_passages_are_unwrapped_so_formatting_survives_chat_clients() -> None:
    wrapped = ("Cancel free up to **12 hours before the class\nstarts**. Then:\n\n"
               "- credit goes back straight\n  away\n- late cancels count\n\n"
               "```\nkeep\nlines\n```")
    assert unwrap(wrapped) == (
        "Cancel free up to **12 hours before the class starts**. Then:\n\n"
        "- credit goes back straight away\n- late cancels count\n\n```\nkeep\nlines\n```")
