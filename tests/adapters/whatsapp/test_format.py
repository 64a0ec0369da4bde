"""Markdown → WhatsApp markup and message splitting: pure functions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.whatsapp.format import split_message, to_whatsapp


@pytest.mark.parametrize(("markdown", "expected"), [
    ("**bold**", "*bold*"),
    ("__bold__", "*bold*"),
    ("_italic_ and *italic*", "_italic_ and _italic_"),
    ("~~gone~~", "~gone~"),
    ("use `pip install`", "use ```pip install```"),
    ("# Title", "*Title*"),
    ("## Title with **bold** and `code`", "*Title with bold and code*"),
    ("[the docs](https://example.com/a)", "the docs (https://example.com/a)"),
    ("<https://example.com>", "https://example.com"),
    ("![logo](https://example.com/l.png)", "logo (https://example.com/l.png)"),
    ("- one\n- two", "• one\n• two"),
    ("1. one\n2. two", "1. one\n2. two"),
    ("3. three\n4. four", "3. three\n4. four"),
    ("- a\n  - b", "• a\n   • b"),
    ("```\nx = 1\ny = 2\n```", "```\nx = 1\ny = 2\n```"),
    ("> quoted", "> quoted"),
    ("snake_case_name stays", "snake_case_name stays"),
    ("para one\n\npara two", "para one\n\npara two"),
])
def test_markdown_becomes_whatsapp_markup(markdown: str, expected: str) -> None:
    assert to_whatsapp(markdown) == expected


def test_a_full_reply_has_no_markdown_markers_left() -> None:
    markdown = ("# Your order\n\nHere is **what we found** for [order 42](https://shop.test/42):"
                "\n\n- ~~old price~~ **new price**\n- see `status`\n\n---\n\n"
                "| item | qty |\n|---|---|\n| tea | 2 |")
    out = to_whatsapp(markdown)
    for marker in ("**", "~~", "](", "# ", "|", "---", "- "):
        assert marker not in out
    assert "order 42 (https://shop.test/42)" in out
    assert "*what we found*" in out and "~old price~" in out


def _letters(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_split_prefers_paragraphs_then_sentences_then_words() -> None:
    para = "First sentence here. Second one follows."
    assert split_message(f"{para}\n\n{para}", 45) == [para, para]
    assert split_message(para, 25) == ["First sentence here.", "Second one follows."]
    assert split_message("alpha beta gamma delta", 11) == ["alpha beta", "gamma delta"]
    assert split_message("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_message("   \n\n  ", 10) == []
    assert split_message("short", 1600) == ["short"]


def test_default_limit_is_twilios_1600() -> None:
    parts = split_message("word " * 1000)
    assert len(parts) > 1 and all(len(p) <= 1600 for p in parts)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(["word", " ", ".", "!", "\n", "\n\n", "longerword",
                                      "é🙂", "?"]), max_size=300).map("".join),
       limit=st.integers(min_value=1, max_value=80))
def test_split_properties(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(p.strip() for p in parts), "no empty part"
    assert all(len(p) <= limit for p in parts), "no part over the limit"
    assert _letters("".join(parts)) == _letters(text), "all text kept, in order"


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400), limit=st.integers(min_value=1, max_value=120))
def test_split_properties_on_any_unicode(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(p.strip() and len(p) <= limit for p in parts)
    assert _letters("".join(parts)) == _letters(text)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_formatting_never_fails(text: str) -> None:
    assert isinstance(to_whatsapp(text), str)
