"""While a person has the conversation, the bot stays quiet: messages go to staff.

Opting out or in and asking for the bot back are still the bot's to handle.
"""

from __future__ import annotations

from bot.definition.builtin import BACK_TO_BOT, OPT_IN, OPT_OUT
from bot.turn.stage import Outcome, Relay, Turn

#: intents the bot still handles while a person has the conversation
DURING_HANDOFF = frozenset({OPT_OUT, OPT_IN, BACK_TO_BOT})


class HandoffRelay:
    async def run(self, turn: Turn) -> Outcome | None:
        assert turn.classification is not None, "runs after the classify stage"
        if turn.session.status == "escalated" and \
                turn.classification.intent not in DURING_HANDOFF:
            return Relay(turn.classification)
        return None
