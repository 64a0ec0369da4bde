"""The turn's stages, in the order they run. To add one: a module here with a class that
has `async def run(self, turn) -> Outcome | None`, and its entry in `turn_stages`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.channels import Channels
from bot.hooks import EventHooks
from bot.intents.contract import Classifier
from bot.observability import Metrics
from bot.routing.router import Router
from bot.safety.output import OutputFilter as Filter
from bot.safety.ratelimit import RateLimits
from bot.settings import Settings
from bot.tracing import Tracer
from bot.turn.stage import Stage
from bot.turn.stages.classify import Classify
from bot.turn.stages.handoff_relay import HandoffRelay
from bot.turn.stages.injection_screen import InjectionCheck, InjectionScreen
from bot.turn.stages.input_guard import InputGuard
from bot.turn.stages.menu_choice import MenuChoice
from bot.turn.stages.opt_out import OptOut
from bot.turn.stages.output_filter import OutputFilter
from bot.turn.stages.rate_limit import RateLimit
from bot.turn.stages.respond import Respond
from bot.turn.stages.shared_contacts import SharedContacts
from bot.turn.stages.stale_choice import StaleChoice


@dataclass(frozen=True)
class StageParts:
    """What the stages of one process are built from."""

    settings: Settings
    metrics: Metrics
    hooks: EventHooks | None
    rate_limits: RateLimits
    injection: InjectionCheck | None
    classifier: Classifier
    tracer: Tracer
    router: Router
    output_filter: Filter
    channels: Channels


def turn_stages(p: StageParts) -> list[Stage]:
    """guard → classify → route and respond → check the reply (docs/architecture.md)."""
    return [
        OptOut(p.hooks),                                  # STOP / START keywords
        RateLimit(p.rate_limits, p.metrics),              # per person, session, in all
        SharedContacts(p.channels),                       # a contact card: name, numbers
        InputGuard(max_chars=p.settings.max_message_chars,
                   audit_prompts=p.settings.audit_user_prompts, metrics=p.metrics),
        MenuChoice(),                                     # "2" picks option 2
        StaleChoice(),                                    # a button of an older question
        InjectionScreen(p.injection, p.metrics, p.hooks),  # allow | harden | refuse
        Classify(p.classifier, p.tracer, p.metrics),      # local model, LLM when unsure
        HandoffRelay(),                                   # a person has it: relay to staff
        Respond(p.router, p.metrics),                     # direct, knowledge or the agent
        OutputFilter(p.output_filter, p.metrics, p.hooks),  # leaks checked, then shown
    ]
