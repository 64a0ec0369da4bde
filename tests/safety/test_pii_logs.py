"""Log lines: phone numbers masked, ids that join lines up kept whole."""

from __future__ import annotations

from bot.pii import mask_log_event


def test_ids_survive_masking_and_phone_numbers_do_not() -> None:
    conversation = "fb70b417-d2c1-4fb2-8e0b-123456703ebb"
    trace = "1234567890abcdef1234567890abcdef"
    event = mask_log_event(None, "info", {
        "event": "x", "conversation_id": conversation, "trace_id": trace,
        "note": "call +1 555 123 4567", "sender_id": "+15551234567"})
    assert event["conversation_id"] == conversation and event["trace_id"] == trace
    assert "555" not in event["note"] and event["sender_id"] == "+***67"
