"""The agent's progress events reach the web chat's SSE stream, ending with the stored reply."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from bot.app import create_app
from bot.settings import Settings
from testing.classifiers import ScheduleIntent
from testing.llm_server import FakeLLM
from tests.conftest import RuntimeFactory


async def test_web_stream_shows_tool_progress_deltas_and_the_final_reply(
    runtime_factory: RuntimeFactory, agent_settings: Callable[..., Settings], fake_llm: FakeLLM,
) -> None:
    fake_llm.tool_use(("remember", {"key": "drink", "value": "tea", "kind": "preference"}),
                      text="Noting that.")
    fake_llm.reply("Got it, you like tea.")
    async with runtime_factory(settings=agent_settings(llm_stream=True),
                               classifier=ScheduleIntent()) as rt:
        app = create_app(rt.settings, runtime=rt)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test", timeout=30) as client:
            events: list[tuple[str, dict[str, object]]] = []
            async with client.stream("POST", "/api/chat/stream",
                                     json={"text": "I like tea"}) as res:
                event = ""
                async for line in res.aiter_lines():
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        events.append((event, json.loads(line.split(":", 1)[1])))
    names = [name for name, _ in events]
    assert names[-1] == "done"
    reply = events[-1][1]["reply"]
    assert (reply["text"], reply["parts"], reply["from_human"]) == (
        "Got it, you like tea.", [], False)
    start = names.index("tool_call_start")
    assert events[start][1] == {"name": "remember", "title": "your saved details"}
    assert start < names.index("tool_call_end") < len(names) - 1
    streamed = "".join(str(d["text"]) for n, d in events if n == "text_delta")
    assert "Noting that." in streamed and "Got it, you like tea." in streamed
    assert "error" not in names
