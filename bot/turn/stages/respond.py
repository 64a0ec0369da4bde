"""Route and respond: the intent's responder (a direct handler, a knowledge answer or the
tool-calling agent within its budget) writes the reply."""

from __future__ import annotations

import time

from bot.observability import Metrics
from bot.routing.responder import UnhelpfulAnswers
from bot.routing.router import Router
from bot.turn.stage import Outcome, Turn


class Respond:
    def __init__(self, router: Router, metrics: Metrics) -> None:
        self.router = router
        self.metrics = metrics

    async def run(self, turn: Turn) -> Outcome | None:
        context = turn.context()
        responder = self.router.route(context.classification)
        started = time.perf_counter()
        turn.reply = await responder.respond(context, turn.progress.emit)
        self.metrics.stage_done("respond", started)
        turn.unhelpful = isinstance(responder, UnhelpfulAnswers) and responder.unhelpful_answers
        return None
