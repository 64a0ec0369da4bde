"""The guard stage on its own: normalisation and friendly rejections."""

from __future__ import annotations

from bot.models import Media
from bot.turn.stages.input_guard import check_input, normalise_text


def test_control_and_invisible_characters_are_removed() -> None:
    assert normalise_text("he\x00llo\u200b wor\x07ld\n") == "hello world"
    assert normalise_text("ｆｕｌｌｗｉｄｔｈ") == "fullwidth"


def test_empty_message_gets_a_friendly_answer() -> None:
    verdict = check_input(" \t\u200b ", media=[], payload=None, max_chars=4000)
    assert not verdict.allowed and verdict.reason == "empty"
    assert verdict.reply is not None and "didn't catch" in verdict.reply.text


def test_media_only_or_payload_only_message_is_allowed() -> None:
    media = [Media(url="https://example.test/a.jpg", content_type="image/jpeg")]
    assert check_input("", media=media, payload=None, max_chars=10).allowed
    assert check_input("", media=[], payload="BOOK_1", max_chars=10).allowed


def test_oversized_message_is_rejected_with_the_limit() -> None:
    verdict = check_input("x" * 4001, media=[], payload=None, max_chars=4000)
    assert not verdict.allowed and verdict.reason == "too_long"
    assert verdict.reply is not None and "4000" in verdict.reply.text
    assert check_input("x" * 4000, media=[], payload=None, max_chars=4000).allowed
