"""Markdown → mrkdwn and replies → Block Kit, pure and within Slack's limits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.format import (
    MAX_ACTION_ELEMENTS,
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_SECTION_TEXT,
    after_choice,
    markdown_to_mrkdwn,
    render_reply,
    split_mrkdwn,
)
from bot.models import (
    Card,
    Carousel,
    Media,
    MediaPart,
    Option,
    OutboundReply,
    PickList,
    QuickReplies,
)


@pytest.mark.parametrize(("markdown", "mrkdwn"), [
    ("**bold** and __bold__", "*bold* and *bold*"),
    ("*italic* and _italic_", "_italic_ and _italic_"),
    ("~~gone~~", "~gone~"),
    ("`a < b && c`", "`a &lt; b &amp;&amp; c`"),
    ("[the docs](https://example.com/a_b)", "<https://example.com/a_b|the docs>"),
    ("<https://example.com>", "<https://example.com>"),
    ("# Title\n\ntext", "*Title*\n\ntext"),
    ("## **Bold** title", "*Bold title*"),
    ("- one\n- **two**\n  - nested", "• one\n• *two*\n    • nested"),
    ("3. three\n4. four", "3. three\n4. four"),
    ("```python\nx = **y** [a](b)\n```", "```\nx = **y** [a](b)\n```"),
    ("> quoted\n> more", "> quoted\n> more"),
    ("a * b * c and snake_case_name", "a * b * c and snake_case_name"),
    ("<script> & co", "&lt;script&gt; &amp; co"),
])
def test_markdown_to_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert markdown_to_mrkdwn(markdown) == mrkdwn


def _all_text(blocks: list[dict[str, Any]]) -> str:
    return "\n\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")


def test_long_replies_are_split_between_blocks_and_keep_code_fences_closed() -> None:
    paragraphs = [f"Paragraph {n} with **bold** words " + "x" * 400 for n in range(20)]
    code = "```\n" + "\n".join(f"line {n} " + "y" * 60 for n in range(120)) + "\n```"
    messages = render_reply(OutboundReply(text="\n\n".join(paragraphs) + "\n\n" + code))
    blocks = [b for m in messages for b in m.blocks]
    assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in blocks)
    for block in blocks:
        text = block["text"]["text"]
        assert text.count("```") % 2 == 0, "every code piece is fenced on its own"
        assert text.count("*") % 2 == 0, "no bold cut in half"
    assert "Paragraph 19" in _all_text(blocks) and "line 119" in _all_text(blocks)


def test_more_than_fifty_blocks_become_several_messages_each_with_fallback_text() -> None:
    text = "\n\n".join("p" * 2900 for _ in range(60))
    messages = render_reply(OutboundReply(text=text))
    assert len(messages) == 2
    assert all(len(m.blocks) <= MAX_BLOCKS and m.text.strip() for m in messages)


def test_quick_replies_are_buttons_within_limits() -> None:
    options = [Option(title=f"Option {n} " + "t" * 100, payload=f"p{n}" + "v" * 2100)
               for n in range(30)]
    messages = render_reply(OutboundReply(text="Pick", parts=[QuickReplies(options=options)]))
    actions = [b for b in messages[0].blocks if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [MAX_ACTION_ELEMENTS, 5]
    buttons = [e for a in actions for e in a["elements"]]
    assert all(len(e["text"]["text"]) <= MAX_BUTTON_TEXT for e in buttons)
    assert all(len(e["value"]) <= MAX_BUTTON_VALUE for e in buttons)
    assert len({e["action_id"] for e in buttons}) == 30
    assert messages[0].text.startswith("Pick\nOption 0")


def test_a_long_list_is_a_static_select_and_a_short_one_buttons() -> None:
    long = PickList(button="Choose a city", options=[Option(title=f"City {n}", payload=f"c{n}")
                                                     for n in range(8)])
    block = render_reply(OutboundReply(text="Where?", parts=[long])).pop().blocks[-1]
    select = block["elements"][0]
    assert select["type"] == "static_select" and len(select["options"]) == 8
    assert select["placeholder"]["text"] == "Choose a city"
    short = PickList(options=[Option(title="A", payload="a"), Option(title="B", payload="b")])
    block = render_reply(OutboundReply(text="Which?", parts=[short])).pop().blocks[-1]
    assert [e["type"] for e in block["elements"]] == ["button", "button"]


def test_cards_and_carousels_are_sections_with_image_accessories() -> None:
    card = Card(title="Room", body="Sea **view**", image_url="https://img/x.png",
                buttons=[Option(title="Book", payload="book-1")])
    reply = OutboundReply(text="Here", parts=[Carousel(cards=[card, card])])
    blocks = render_reply(reply)[0].blocks
    kinds = [b["type"] for b in blocks]
    assert kinds == ["section", "section", "actions", "divider", "section", "actions"]
    assert blocks[1]["accessory"]["image_url"] == "https://img/x.png"
    assert blocks[1]["text"]["text"] == "*Room*\nSea *view*"


def test_media_parts() -> None:
    reply = OutboundReply(text="Files", parts=[
        MediaPart(media=Media(url="https://f/a.png", content_type="image/png")),
        MediaPart(media=Media(url="https://f/b.pdf", content_type="application/pdf",
                              caption="Invoice"))])
    blocks = render_reply(reply)[0].blocks
    assert blocks[1]["type"] == "image"
    assert blocks[2]["text"]["text"] == "<https://f/b.pdf|Invoice>"


def test_after_choice_removes_the_buttons_and_shows_the_choice() -> None:
    reply = OutboundReply(text="Pick", parts=[QuickReplies(options=[Option(title="Yes",
                                                                           payload="y")])])
    blocks = after_choice(render_reply(reply)[0].blocks, "Yes", "U1")
    assert [b["type"] for b in blocks] == ["section", "context"]
    assert blocks[-1]["elements"][0]["text"] == "<@U1> chose *Yes*"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=700), min_size=1, max_size=30))
def test_split_never_exceeds_the_limit_and_loses_nothing(units: list[str]) -> None:
    chunks = split_mrkdwn(units, limit=500)
    assert all(len(c) <= 500 for c in chunks)
    joined = "".join("".join(c.split()) for c in chunks)
    assert joined.replace("```", "") == "".join("".join(u.split()) for u in units).replace(
        "```", "")


def test_a_reply_written_by_staff_says_so() -> None:
    [message] = render_reply(OutboundReply(text="Hi, Maria here.", from_human=True))
    assert message.blocks[-1]["type"] == "context"
    assert "person on the team" in message.blocks[-1]["elements"][0]["text"]
    [bot] = render_reply(OutboundReply(text="Hi, Maria here."))
    assert [b["type"] for b in bot.blocks] == ["section"]
