"""Rich parts → Content API shapes or numbered text menus (pure)."""

from __future__ import annotations

from adapters.whatsapp.content import (
    ContentShape,
    plan_messages,
    quick_reply_shape,
    rich_shape,
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
from bot.turn.stages.menu_choice import pick_option


def opts(n: int, title: str = "Option") -> list[Option]:
    return [Option(title=f"{title} {i}", payload=f"opt:{i}") for i in range(1, n + 1)]


def test_quick_replies_within_limits_use_the_content_api() -> None:
    reply = OutboundReply(text="Pick **one**", parts=[QuickReplies(options=opts(3))])
    (message,) = plan_messages(reply, content_api=True, max_chars=1600)
    assert message.content is not None and message.content.kind == "twilio/quick-reply"
    assert message.content_variables == {"1": "Pick *one*"}
    actions = message.content.types["twilio/quick-reply"]["actions"]
    assert actions == [{"title": f"Option {i}", "id": f"opt:{i}"} for i in (1, 2, 3)]


def test_more_than_three_buttons_become_a_list_picker_and_beyond_ten_a_text_menu() -> None:
    shape = rich_shape(QuickReplies(options=opts(5)))
    assert shape is not None and shape.kind == "twilio/list-picker"
    assert rich_shape(QuickReplies(options=opts(11))) is None
    assert quick_reply_shape([Option(title="x" * 21, payload="p")]) is None
    assert quick_reply_shape([Option(title="ok", payload="p" * 201)]) is None
    assert rich_shape(PickList(options=[Option(title="x" * 25, payload="p")])) is None
    assert rich_shape(PickList(options=[Option(title="ok", payload="p",
                                               description="d" * 73)])) is None


def test_shape_hash_is_stable_and_ignores_the_body_text() -> None:
    a = plan_messages(OutboundReply(text="one", parts=[QuickReplies(options=opts(2))]),
                      content_api=True, max_chars=1600)[0].content
    b = plan_messages(OutboundReply(text="two", parts=[QuickReplies(options=opts(2))]),
                      content_api=True, max_chars=1600)[0].content
    assert isinstance(a, ContentShape) and isinstance(b, ContentShape)
    assert a.key == b.key and len(a.key) == 64
    c = quick_reply_shape(opts(2, "Other"))
    assert c is not None and c.key != a.key


def test_without_content_api_options_become_a_numbered_menu_that_maps_back() -> None:
    reply = OutboundReply(text="Where to?", parts=[
        QuickReplies(options=opts(2)),
        PickList(options=[Option(title="Berlin", payload="city:ber", description="Capital")]),
    ])
    messages = plan_messages(reply, content_api=False, max_chars=1600)
    assert all(m.content is None for m in messages)
    assert messages[0].body == "Where to?"
    assert messages[1].body == ("1. Option 1\n2. Option 2\n3. Berlin — Capital\n"
                                "Reply with the number of your choice.")
    history = [{"direction": "in", "rich": None},
               {"direction": "out", "rich": reply.model_dump(mode="json")}]
    assert pick_option("2", history) == "opt:2"
    assert pick_option(" 3. ", history) == "city:ber"
    assert pick_option("berlin", history) == "city:ber"
    assert pick_option("4", history) is None and pick_option("hello", history) is None
    later = [*history, {"direction": "out", "rich": OutboundReply(text="x").model_dump()}]
    assert pick_option("2", later) is None, "only the last message's menu counts"


def test_cards_and_carousels() -> None:
    card = Card(title="Tea", body="Green tea", image_url="https://img.test/tea.png",
                buttons=[Option(title="Buy", payload="buy:tea")])
    shape = rich_shape(card)
    assert shape is not None and shape.types["twilio/card"]["media"] == [card.image_url]
    carousel = Carousel(cards=[card, card.model_copy(update={"title": "Coffee"})])
    shape = rich_shape(carousel)
    assert shape is not None and len(shape.types["twilio/carousel"]["cards"]) == 2
    uneven = Carousel(cards=[card, card.model_copy(update={"buttons": []})])
    assert rich_shape(uneven) is None
    messages = plan_messages(OutboundReply(text="Menu", parts=[uneven]), content_api=True,
                             max_chars=1600)
    assert [m.media_url for m in messages if m.media_url] == [card.image_url] * 2
    assert messages[-1].body.startswith("1. Buy")


def test_media_parts_and_long_text() -> None:
    reply = OutboundReply(text="word " * 700, parts=[
        MediaPart(media=Media(url="https://img.test/a.png", caption="A"))])
    messages = plan_messages(reply, content_api=False, max_chars=1600)
    assert len(messages) == 4 and all(len(m.body) <= 1600 for m in messages)
    assert messages[-1].media_url == "https://img.test/a.png" and messages[-1].body == "A"
