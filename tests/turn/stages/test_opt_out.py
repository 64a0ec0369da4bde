"""Opt-out keywords (pure decisions)."""

from __future__ import annotations

from bot.channels import ChannelTraits
from bot.turn.stages.opt_out import decide, opt_command

TRAITS = ChannelTraits(opt_out_words=frozenset({"STOP", "UNSUBSCRIBE"}),
                       opt_in_words=frozenset({"START"}), opt_out_reply="bye", opt_in_reply="hi")


def test_keywords_are_whole_messages_in_any_case() -> None:
    assert opt_command(["stop"], TRAITS) == "stop"
    assert opt_command([" Unsubscribe. "], TRAITS) == "stop"
    assert opt_command(["please stop that"], TRAITS) is None
    assert opt_command(["STOP", "start"], TRAITS) == "start", "the last keyword wins"
    assert opt_command(["stop"], ChannelTraits()) is None, "channels without keywords"


def test_stop_confirms_once_and_start_only_answers_when_opted_out() -> None:
    first = decide("stop", False, TRAITS)
    assert first.reply is not None and first.reply.compliance_notice
    assert first.reply.text == "bye" and first.set_opted_out is True
    assert decide("stop", True, TRAITS).skip, "no second confirmation"
    assert decide(None, True, TRAITS).skip
    back = decide("start", True, TRAITS)
    assert back.reply is not None and back.reply.text == "hi" and back.set_opted_out is False
    normal = decide("start", False, TRAITS)
    assert normal.reply is None and not normal.skip, "START when subscribed is a normal message"
    assert decide(None, False, TRAITS) == decide(None, False, ChannelTraits())
