"""The support console's card, thread lines, and staff text, without HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from adapters.slack.console_format import (
    BACK,
    CLAIM,
    RESOLVE,
    handoff_card,
    mirror_line,
    notice_line,
    staff_text,
)
from bot.handoff.console import HandoffView


def view(**fields: object) -> HandoffView:
    values: dict[str, object] = {
        "id": uuid4(), "conversation_id": uuid4(), "contact_id": uuid4(),
        "display_name": "Dana", "channel": "whatsapp", "status": "waiting",
        "trigger": "intent", "reason": "asked for a person", "summary": "• refund <please>",
        "created_at": datetime.now(UTC), "recent": ["User: hi", "Bot: hello"]}
    values.update(fields)
    return HandoffView(**values)  # type: ignore[arg-type]


def actions(blocks: list[dict[str, object]]) -> list[str]:
    return [str(e["action_id"]) for b in blocks if b["type"] == "actions"  # type: ignore[attr-defined]
            for e in b["elements"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("status", "staff", "buttons", "shown"), [
    ("waiting", None, [CLAIM, RESOLVE, BACK], "Waiting for a person"),
    ("claimed", "Li", [RESOLVE, BACK], "Claimed by *Li*"),
    ("resolved", "Li", [], "Resolved by *Li*"),
    ("returned", "customer", [], "Back with the bot (customer)"),
])
def test_card_shows_status_and_the_buttons_that_still_apply(
    status: str, staff: str | None, buttons: list[str], shown: str,
) -> None:
    card = handoff_card(view(status=status, staff=staff), "//")
    assert actions(card.blocks) == buttons
    assert shown in json.dumps(card.blocks)


def test_card_has_no_internal_ids_and_escapes_what_people_wrote() -> None:
    v = view(display_name="whatsapp:+15551234567")
    card = handoff_card(v, "//")
    text = json.dumps([b for b in card.blocks if b["type"] != "actions"])
    assert str(v.contact_id) not in text and str(v.conversation_id) not in text
    assert "5551234567" not in text and "WhatsApp" in text
    assert "&lt;please&gt;" in text and "<please>" not in text
    assert card.blocks[0]["type"] == "header" and len(card.blocks[0]["text"]["text"]) <= 150
    assert {e["value"] for b in card.blocks if b["type"] == "actions"
            for e in b["elements"]} == {str(v.id)}


def test_thread_lines_never_ping_but_the_configured_mention_does() -> None:
    assert (mirror_line("Dana", "hi <!channel> & <@U1>")
            == "*Dana:* hi &lt;!channel&gt; &amp; &lt;@U1&gt;")
    line = notice_line("<!subteam^S1> Still waiting <x>", "<!subteam^S1>")
    assert line.endswith("<!subteam^S1> Still waiting &lt;x&gt;")
    assert "<x>" not in notice_line("<x>")


@pytest.mark.parametrize(("typed", "sent"), [
    ("Fish &amp; chips &lt;3", "Fish & chips <3"),
    ("see <https://ex.com/a|the form>", "see [the form](https://ex.com/a)"),
    ("see <https://ex.com/a>", "see https://ex.com/a"),
    ("mail <mailto:a@b.co|a@b.co>", "mail a@b.co"),
    ("thanks <@U123> and <!here>", "thanks and"),
    ("in <#C1|billing>", "in #billing"),
])
def test_staff_text_loses_slack_markup_and_ids(typed: str, sent: str) -> None:
    assert staff_text(typed) == sent

