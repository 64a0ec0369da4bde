"""How attachments read in a message's text (pure)."""

from __future__ import annotations

from bot.channels.attachments import describe_media, is_contact_card, with_attachments
from bot.models import Location, Media


def test_describe_media_kinds() -> None:
    assert describe_media(Media(url="u", content_type="video/mp4")) == "[video: video/mp4]"
    assert describe_media(Media(url="u", content_type="weird")) == "[file: weird]"
    assert describe_media(Media(url="u", content_type="application/pdf",
                                caption="report.pdf")) == "[document: application/pdf, report.pdf]"


def test_contact_cards_read_as_contact_cards() -> None:
    for kind in ("text/vcard", "text/x-vcard", "TEXT/VCARD; charset=utf-8"):
        assert is_contact_card(Media(url="u", content_type=kind))
        assert describe_media(Media(url="u", content_type=kind)) == "[contact card]"
    assert not is_contact_card(Media(url="u", content_type="text/plain"))


def test_text_then_a_line_per_attachment() -> None:
    media = [Media(url="a", content_type="image/jpeg"), Media(url="b", content_type="audio/ogg")]
    where = Location(latitude=52.5, longitude=13.4, label="Office")
    assert with_attachments("look", media, where) == (
        "look\n[image: image/jpeg]\n[audio: audio/ogg]\n[location: Office (52.5, 13.4)]")
    assert with_attachments("", media[:1]) == "[image: image/jpeg]"
