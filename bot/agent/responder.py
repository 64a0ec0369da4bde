"""The agent as a `Responder`: caps, memory, prompt, loop, and user-safe failure texts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any, Protocol

import structlog

from bot.agent import confirm
from bot.agent.budget import AgentBudget, TurnLimits, resolve_limits
from bot.agent.builtin_tools import ESCALATION_TOOL
from bot.agent.costs import LIMIT_REACHED_TEXT, DailySpend
from bot.agent.errors import BUSY_TEXT, AgentBusyError, LLMPermanentError, LLMTransientError
from bot.agent.executor import ToolExecutor
from bot.agent.history import SUMMARY_SYSTEM, Row, Summarize, fold_history, transcript
from bot.agent.llm import CallScope, LLMCaller
from bot.agent.loop import LIMIT_NOTES, AgentLoop, LoopState
from bot.agent.messages import LLMRequest, Message, ToolCall
from bot.agent.metrics import AgentMetrics
from bot.agent.prompt import fence_untrusted, system_prompt
from bot.agent.tools import ToolContext, ToolRegistry, TurnRecord
from bot.agent.turn_reads import AGENT_READS, TurnReads, read_turn_state
from bot.db.pool import Database
from bot.models import OutboundReply
from bot.routing.responder import Emit, TurnContext
from bot.settings.agent import AgentSettings
from bot.tracing import Tracer

log = structlog.get_logger(__name__)

NO_ANSWER_TEXT = "Sorry, I couldn't come up with an answer to that. Could you rephrase it?"


def compose_reply(state: LoopState) -> str:
    """The best answer so far plus what could not be done, in plain words."""
    parts = [state.best_text] if state.best_text else []
    for source in state.failed_sources:
        if source not in state.recovered_sources:
            parts.append(f"I couldn't get data from {source}, please try again.")
    if state.stop:
        parts.append(LIMIT_NOTES[state.stop])
    return "\n\n".join(parts) or NO_ANSWER_TEXT


def streams(llm_stream: bool, turn: TurnContext) -> bool:
    """Stream the model's answer only where someone sees it arrive: streaming costs a turn
    ~3 ms of SDK work (measured with a zero-latency fake) and WhatsApp sends the reply whole."""
    return llm_stream and turn.shows_text_as_written


def as_seen_by_model(turn: TurnContext) -> str:
    """The message for the model; a tapped option keeps its payload ("book:12"), which
    says which listed item was meant when the title alone does not."""
    if not turn.payload:
        return turn.text
    if not turn.text or turn.text == turn.payload:
        return turn.payload
    return f"{turn.text} (tapped option: {turn.payload})"


class AgentParts(Protocol):
    """What a responder uses of the agent's process-wide parts (`AgentServices`)."""

    settings: AgentSettings
    db: Database
    registry: ToolRegistry
    tracer: Tracer
    metrics: AgentMetrics
    clients: dict[str, Any]
    canary: str
    persona: str
    spend: DailySpend
    caller: LLMCaller
    executor: ToolExecutor


@dataclass(frozen=True)
class AgentTurnResult:
    """The reply plus what happened on the way (for handoff, evaluation and tests)."""

    reply: OutboundReply
    escalation_reason: str | None = None
    limit: str | None = None
    failed_sources: tuple[str, ...] = ()
    iterations: int = 0


class AgentResponder:
    """Answers a routed turn with the LLM and tools, within the route's budget."""

    def __init__(self, services: AgentParts, budget: AgentBudget) -> None:
        self.services = services
        self.budget = budget

    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return (await self.answer(turn, emit)).reply

    async def answer(self, turn: TurnContext, emit: Emit) -> AgentTurnResult:
        """The reply and the turn's outcome: limits hit, failed tools, escalation request."""
        s = self.services
        reads = turn.reads.get(AGENT_READS) or await read_turn_state(
            s.db, s.settings, contact_id=turn.contact_id, session_id=turn.session.id,
            current_ids=turn.message_ids, spend=s.spend)
        caps = reads.caps
        if not caps.allowed:
            s.metrics.budget_exhausted.labels(caps.scope or "unknown").inc()
            log.warning("llm_budget_exhausted", scope=caps.scope)
            await emit("text_delta", {"text": LIMIT_REACHED_TEXT})
            return AgentTurnResult(OutboundReply(text=LIMIT_REACHED_TEXT), limit=caps.scope)
        intent = turn.classification.intent
        async with s.tracer.turn(
            "agent_turn", inputs={"text": turn.text},
            tags=[f"channel:{turn.channel}", f"intent:{intent}"],
            metadata={"channel": turn.channel, "intent": intent,
                      "session_id": str(turn.session.id)},
        ) as run:
            result = await self._answer(turn, emit, resolve_limits(self.budget, s.settings),
                                        reads)
            run.set_outputs({"text": result.reply.text, "limit": result.limit})
        return result

    async def _answer(self, turn: TurnContext, emit: Emit,
                      limits: TurnLimits, reads: TurnReads) -> AgentTurnResult:
        s = self.services
        scope = CallScope(turn.contact_id, turn.conversation_id, turn.session.id,
                          turn.message_ids[-1], rows=turn.rows)
        loop: AgentLoop | None = None
        record = TurnRecord()
        try:
            async with asyncio.timeout(limits.turn_deadline_s):
                loop, system, messages = await self._prepare(turn, emit, limits, scope, record,
                                                             reads)
                settled = await self._settle_confirmation(turn, loop, messages)
                if settled is not None:  # No, or nothing left to confirm: no LLM call
                    await emit("text_delta", {"text": settled})
                    return AgentTurnResult(OutboundReply(text=settled))
                state = await loop.run(system, messages)
        except TimeoutError as exc:
            state = loop.state if loop is not None else LoopState()
            if state.retrying and not state.best_text:  # the provider is busy, not slow
                s.metrics.busy.inc()
                await emit("status", {"text": BUSY_TEXT + " I'll try again in a moment."})
                raise AgentBusyError("deadline while retrying the model") from exc
            state.stop = "deadline"
            s.metrics.limits_hit.labels("deadline").inc()
            log.warning("agent_deadline", iterations=state.iterations)
        except LLMTransientError as exc:
            s.metrics.busy.inc()
            log.warning("agent_busy", status=exc.status)
            await emit("status", {"text": BUSY_TEXT + " I'll try again in a moment."})
            raise AgentBusyError(str(exc), retry_after_s=exc.retry_after_s) from exc
        except LLMPermanentError:
            await emit("error", {"text": BUSY_TEXT})
            return AgentTurnResult(OutboundReply(text=BUSY_TEXT), limit="llm_rejected")
        reply = OutboundReply(text=compose_reply(state), parts=record.parts())
        if state.pending is not None:
            reply = await self._ask_to_confirm(turn, state.pending, state.best_text)
        text = reply.text
        if not streams(s.settings.llm_stream, turn):
            await emit("text_delta", {"text": text})
        elif state.best_text and text != state.best_text:
            await emit("text_delta", {"text": text[len(state.best_text):]})
        return AgentTurnResult(
            reply, escalation_reason=state.escalation_reason,
            limit=state.stop, iterations=state.iterations,
            failed_sources=tuple(x for x in state.failed_sources
                                 if x not in state.recovered_sources))

    async def _ask_to_confirm(self, turn: TurnContext, call: ToolCall,
                              text: str) -> OutboundReply:
        async with self.services.db.as_user(turn.contact_id) as conn:
            await confirm.save_pending(conn, turn.contact_id, turn.session.id, call)
        log.info("tool_confirmation_asked", tool=call.name)
        return confirm.confirmation_reply(text, turn.classification.intent)

    async def _settle_confirmation(self, turn: TurnContext, loop: AgentLoop,
                                   messages: list[Message]) -> str | None:
        """On a Yes/No (tapped or typed): run the waiting call (then the model answers), or
        say why not. A typed yes/no with nothing waiting is an ordinary message."""
        tapped = confirm.answer_of(turn.payload)
        answer = tapped if tapped is not None else confirm.typed_answer(turn.text)
        if answer is None:
            return None
        async with self.services.db.as_user(turn.contact_id) as conn:
            call = await confirm.take_pending(conn, turn.contact_id, turn.session.id,
                                              turn.message_ids[-1])
        log.info("tool_confirmation_answered", confirmed=answer, pending=call is not None)
        if call is None:
            return confirm.EXPIRED_TEXT if tapped is not None else None
        if not answer:
            return confirm.DECLINED_TEXT
        result = await loop.run_confirmed(call)
        messages.append(Message(role="assistant", parts=[call]))
        messages.append(Message(role="user", parts=[result]))
        return None

    async def _prepare(self, turn: TurnContext, emit: Emit, limits: TurnLimits,
                       scope: CallScope,
                       record: TurnRecord,
                       reads: TurnReads) -> tuple[AgentLoop, str, list[Message]]:
        s = self.services
        st = s.settings
        current, untrusted_note = as_seen_by_model(turn), ""
        if not turn.text and confirm.answer_of(turn.payload) is not None:
            current = "Yes, go ahead." if confirm.answer_of(turn.payload) else "No."
        tools = s.registry.visible(self.budget.tools)
        if turn.untrusted:
            # A flagged message is quoted as data, and this turn cannot act on anything
            # except handing the person to a human.
            current, untrusted_note = fence_untrusted(current)
            tools = [t for t in tools if not t.side_effects or t.name == ESCALATION_TOOL]
        window = await fold_history(
            s.db, reads.history, contact_id=turn.contact_id, session_id=turn.session.id,
            current_text=current, budget=st.agent_history_token_budget,
            keep_ratio=st.agent_history_keep_ratio,
            summary_max_tokens=st.agent_summary_max_tokens, summarize=self._summarizer(scope))
        known, used = reads.user_context, reads.session_tool_calls
        ctx = ToolContext(contact_id=turn.contact_id, conversation_id=turn.conversation_id,
                          session_id=turn.session.id, message_id=turn.message_ids[-1],
                          channel=turn.channel, db=s.db, turn=record, clients=s.clients)
        loop = AgentLoop(caller=s.caller, executor=s.executor, tracer=s.tracer,
                         metrics=s.metrics, limits=limits,
                         tools=tools, scope=scope, ctx=ctx,
                         emit=emit, stream=streams(st.llm_stream, turn),
                         session_tool_calls=used,
                         confirm=frozenset(self.budget.confirm))
        system = system_prompt(persona=s.persona, canary=s.canary, user_context=known,
                               summary=window.summary, untrusted_note=untrusted_note)
        return loop, system, window.messages

    def _summarizer(self, scope: CallScope) -> Summarize:
        s = self.services
        words = max(50, s.settings.agent_summary_max_tokens * 3 // 4)

        async def summarize(previous: str, rows: list[Row]) -> str:
            request = LLMRequest(
                model=s.caller.provider.model_for("fast"),
                system=SUMMARY_SYSTEM.format(words=words),
                messages=[Message.user(f"Current summary:\n{previous or '(none yet)'}\n\n"
                                       f"New messages:\n{transcript(rows)}")],
                max_tokens=s.settings.agent_summary_max_tokens)
            response = await s.caller.call(request, replace(scope, purpose="summary"),
                                           retry=False)
            return response.text
        return summarize

