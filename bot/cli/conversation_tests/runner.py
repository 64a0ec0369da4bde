"""Running conversation tests: each test in a database of its own, through the web chat
channel, with the bot's real classifier, routes and tools; the model scripted by the
test (or none, or the configured provider with --live)."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.web import ChatRequest, new_session_id, to_inbound
from bot.agent.providers.scripted import ScriptedAnswer, ScriptedProvider
from bot.cli.common import LoadSettings
from bot.cli.conversation_tests.checks import Observed, failures_of
from bot.cli.conversation_tests.spec import ConversationTest, Step
from bot.db.embedded import resolve_database_url
from bot.db.migrate import apply_migrations
from bot.definition import load_definition
from bot.models import OutboundReply
from bot.runtime import Runtime

#: seconds a step may take before it fails as unanswered
STEP_TIMEOUT_S = 30.0
_SETTLED = ("answered", "relayed", "skipped", "failed")


@dataclass
class TestOutcome:
    file: Path
    name: str
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: each step as sent and answered, for `bot test -v`
    transcript: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class RunOptions:
    definition: Path
    live: bool = False


async def run_tests(tests: list[tuple[Path, ConversationTest]], options: RunOptions,
                    load_settings: LoadSettings) -> list[TestOutcome]:
    """Every test in order, each in a new database on the configured server."""
    base = load_settings(bot_definition=options.definition)
    server = await resolve_database_url(base.database_url, base.embedded_database_dir)
    migrations = load_definition(options.definition).migrations
    outcomes = []
    for path, test in tests:
        started = time.perf_counter()
        outcome = TestOutcome(path, test.name)
        database = await _create_database(server)
        try:
            await apply_migrations(database, bot_migrations=migrations)
            settings = load_settings(
                bot_definition=options.definition, database_url=database,
                database_app_url=None, run_migrations_on_start=False, log_level="WARNING",
                langsmith_tracing=False,
                **({} if options.live or test.scripted else {"llm_provider": "none"}))
            model = ScriptedProvider() if test.scripted and not options.live else None
            runtime = Runtime(settings, llm=model)
            await runtime.start(worker=True)
            try:
                outcome.failures = await _run_steps(runtime, test, model, outcome.transcript)
            finally:
                await runtime.stop()
        except Exception as exc:  # the test's failure, not the run's
            outcome.failures.append(f"could not run: {type(exc).__name__}: {exc}")
        finally:
            await _drop_database(server, database)
        outcome.seconds = time.perf_counter() - started
        outcomes.append(outcome)
    return outcomes


async def _run_steps(runtime: Runtime, test: ConversationTest,
                     model: ScriptedProvider | None, transcript: list[str]) -> list[str]:
    session_id = new_session_id()
    last: OutboundReply | None = None
    for number, step in enumerate(test.steps, start=1):
        label = f"step {number} ({_said(step)})"
        request = _request(step, last)
        if request is None:
            offered = [o.title for o in last.options()] if last else []
            return [f"{label}: no button {step.tap!r} in the last reply (offered: {offered})"]
        if model is not None:
            model.script([ScriptedAnswer(a.text or "", a.tool, a.arguments) for a in step.model],
                         intent=step.model_intent)
        result = await runtime.ingest(to_inbound(request, session_id, "local:" + session_id))
        observed = await _observe(runtime, result.message_id, result.conversation_id,
                                  result.contact_id)
        if observed is None:
            return [f"{label}: no answer within {STEP_TIMEOUT_S:.0f} s"]
        transcript.append(f"{_said(step)} -> [{observed.intent}] {observed.text!r}"
                          + (f" buttons {observed.buttons}" if observed.buttons else "")
                          + (f" tools {[t for t, _ in observed.tools]}" if observed.tools else "")
                          + (f" handoff {observed.handoff}" if observed.handoff != "none" else ""))
        problems = failures_of(step.expect, observed)
        if model is not None:
            problems += [f"the model was called with no scripted answer left (for {t!r})"
                         for t in model.unscripted]
            if model.answers:
                problems.append(f"{len(model.answers)} scripted model answer(s) not used")
        if problems:
            return [f"{label}: {p}" for p in problems]
        last = observed.reply if observed.reply is not None else last
    return []


def _said(step: Step) -> str:
    return f"say {step.say!r}" if step.say is not None else f"tap {step.tap!r}"


def _request(step: Step, last: OutboundReply | None) -> ChatRequest | None:
    if step.say is not None:
        return ChatRequest(text=step.say)
    for option in last.options() if last else []:
        if step.tap in (option.title, option.payload):
            return ChatRequest(text=option.title, payload=option.payload)
    return None


async def _observe(runtime: Runtime, message_id: int, conversation_id: Any,
                   contact_id: Any) -> Observed | None:
    """What the step did, once its message is settled (answered, relayed or failed)."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        async with runtime.db.as_system() as conn:
            row = await (await conn.execute(
                "SELECT status FROM app.messages WHERE id = %s", (message_id,))).fetchone()
        if row is not None and row["status"] in _SETTLED:
            break
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.05)
    async with runtime.db.as_system() as conn:
        parts = await (await conn.execute(
            "SELECT text, rich FROM app.messages WHERE reply_to = %s AND direction = 'out'"
            " ORDER BY reply_seq", (message_id,))).fetchall()
        intent = await (await conn.execute(
            "SELECT intent FROM app.intent_classifications WHERE message_id = %s"
            " ORDER BY id DESC LIMIT 1", (message_id,))).fetchone()
        tools = await (await conn.execute(
            "SELECT tool, arguments FROM app.tool_calls WHERE message_id = %s ORDER BY id",
            (message_id,))).fetchall()
        handoff = await (await conn.execute(
            "SELECT status FROM app.handoffs WHERE conversation_id = %s"
            " ORDER BY created_at DESC LIMIT 1", (conversation_id,))).fetchone()
        facts = await (await conn.execute(
            "SELECT key, value FROM app.user_context WHERE contact_id = %s"
            " AND (expires_at IS NULL OR expires_at > now())", (contact_id,))).fetchall()
    replies = [OutboundReply.model_validate(p["rich"]) if p["rich"]
               else OutboundReply(text=p["text"] or "") for p in parts]
    return Observed(
        reply=_joined(replies), intent=intent["intent"] if intent else None,
        tools=[(t["tool"], t["arguments"] or {}) for t in tools],
        handoff=handoff["status"] if handoff else "none",
        context={f["key"]: f["value"] for f in facts})


def _joined(replies: list[OutboundReply]) -> OutboundReply | None:
    """The parts of a reply as one: texts one after another, the last part's buttons."""
    if not replies:
        return None
    if len(replies) == 1:
        return replies[0]
    last = replies[-1]
    return last.model_copy(update={"text": "\n".join(r.text for r in replies if r.text)})


async def _create_database(server: str) -> str:
    name = "bot_convtest_" + secrets.token_hex(4)
    async with await psycopg.AsyncConnection.connect(server, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server, dbname=name)


async def _drop_database(server: str, database: str) -> None:
    name = str(conninfo_to_dict(database)["dbname"])
    async with await psycopg.AsyncConnection.connect(server, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
