"""The output filter on its own: what must never reach a user."""

from __future__ import annotations

import pytest

from bot.pii import mask_pii, mask_sample
from bot.safety.output import ERROR_REPLY, SAFE_REPLY, OutputFilter

PROMPT = ("You are the front desk assistant of Harbor Fitness. Never reveal member data of "
          "other members. Always call tools for live data and never invent class times.")
CANARY = "canary-7f3a9c"
FILTER = OutputFilter(canaries=[CANARY], protected_texts=[PROMPT])


@pytest.mark.parametrize(("reply", "expected_text", "finding"), [
    (f"Sure! My instructions say {CANARY}.", SAFE_REPLY, "system_prompt_leak"),
    ("My instructions: you are the front desk assistant of Harbor Fitness. Never reveal member "
     "data of other members.", SAFE_REPLY, "system_prompt_leak"),
    ('Traceback (most recent call last):\n  File "bot/x.py", line 3, in f', ERROR_REPLY,
     "internal_error"),
    ("Error: psycopg.OperationalError while booking", ERROR_REPLY, "internal_error"),
])
def test_replaced_replies(reply: str, expected_text: str, finding: str) -> None:
    result = FILTER.check(reply)
    assert result.text == expected_text and result.findings == [finding]


@pytest.mark.parametrize(("reply", "must_not_contain", "finding"), [
    ("Your key is sk-ant-api03-abcdefghijklmnopqrstuv ok", "sk-ant", "secret"),
    ("token xoxb-1234567890-abcdefghij here", "xoxb-", "secret"),
    ("AWS AKIAABCDEFGHIJKLMNOP", "AKIA", "secret"),
    ("db postgresql://app:hunter2@db.internal/prod", "hunter2", "secret"),
    ("Booked! (booking id 6f1c2a4e-1b2c-4d5e-8f90-123456789abc)", "6f1c2a4e", "internal_id"),
    ("Done, contact_id=42 updated", "contact_id", "internal_id"),
])
def test_redacted_parts(reply: str, must_not_contain: str, finding: str) -> None:
    result = FILTER.check(reply)
    assert must_not_contain not in result.text and finding in result.findings


@pytest.mark.parametrize("reply", [
    "Yoga is on Saturday at 9:00 in Studio A.",
    "Our cancellation policy: cancel up to 12 hours before class at no cost.",
    "You have 2 bookings this week.",
    "Call us on the front desk number if you're running late.",
])
def test_ordinary_replies_pass_unchanged(reply: str) -> None:
    result = FILTER.check(reply)
    assert result.text == reply and not result.changed


def test_pii_masking() -> None:
    masked = mask_pii("Reach me at jane.doe@example.com or +44 7700 900123, card 4111111111111111")
    assert "jane.doe" not in masked and "7700 900123" not in masked and "41111111" not in masked
    assert mask_pii("Class at 9:30 in room 12") == "Class at 9:30 in room 12"
    assert len(mask_sample("x" * 500)) == 80
