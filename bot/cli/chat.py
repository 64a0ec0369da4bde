"""`bot chat`: the bot in the terminal, through the web chat channel.

A typed number taps that option of the last reply, as a button would. Messages sent into
the conversation unasked (a person of the team replying during a handoff, notices) are
printed as they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

from adapters.web import ChatRequest, WebChatAdapter, new_session_id, to_inbound
from bot.cli.common import LoadSettings
from bot.models import Option
from bot.runtime import Runtime


def chosen_option(text: str, offered: list[Option]) -> Option | None:
    """The option a typed number picks from the bot's last reply, if it is one."""
    typed = text.strip().rstrip(".")
    if typed.isdigit() and 1 <= int(typed) <= len(offered):
        return offered[int(typed) - 1]
    return None


async def _print_unasked(runtime: Runtime, conversation_id: UUID) -> None:
    """Staff replies and notices of the conversation, as they are sent."""
    async with runtime.events.follow(conversation_id) as notices:
        while True:
            notice = await notices.get()
            if notice.author is None and notice.reply_to is not None:
                continue  # a reply to what was typed: printed where it was awaited
            async with runtime.db.as_system() as conn:
                row = await (await conn.execute(
                    "SELECT text FROM app.messages WHERE id = %s", (notice.message_id,)
                )).fetchone()
            who = f"{notice.author} (team)" if notice.author else "bot"
            print(f"\n{who}> {row['text'] if row else ''}\nyou> ", end="", flush=True)


async def chat_in_terminal(load_settings: LoadSettings) -> None:
    from bot.observability import configure_logging

    settings = load_settings()
    configure_logging("WARNING", as_json=False)
    runtime = Runtime(settings)
    await runtime.start(worker=True)
    web = runtime.adapters["web"]
    assert isinstance(web, WebChatAdapter)
    session_id = new_session_id()
    # the definition names and welcomes (BOT_NAME overrides the name when set)
    print(f"Chatting with {runtime.definition.name} (session {session_id}). Ctrl-D to leave.")
    print(f"bot> {runtime.definition.welcome_text}")
    offered: list[Option] = []
    follower: asyncio.Task[None] | None = None
    try:
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                break
            if not text.strip():
                continue
            picked = chosen_option(text, offered)  # "2" taps option 2, as a button would
            request = (ChatRequest(text=picked.title, payload=picked.payload) if picked
                       else ChatRequest(text=text))
            result = await runtime.ingest(to_inbound(request, session_id, "local:" + session_id))
            if follower is None:
                follower = asyncio.create_task(
                    _print_unasked(runtime, result.conversation_id), name="chat-notices")
            reply, status = await web.wait_reply(result)
            if reply is None:
                print("bot> (sent to the team; their reply will appear here)"
                      if status == "queued" else "bot> (still working on it…)")
                continue
            print(f"bot> {reply.text}")
            offered = reply.options()
            for number, option in enumerate(offered, start=1):
                print(f"     {number}. {option.title}")
    finally:
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        await runtime.stop()
