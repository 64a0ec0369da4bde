"""The bot definition's name, persona, tone and welcome reach the agent's instructions,
the greeting, the web chat page and `bot chat`; BOT_NAME and BOT_PERSONA override them
only when set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from adapters.web import ChatRequest, WebChatAdapter, new_session_id, to_inbound
from bot.agent.providers.scripted import ScriptedAnswer, ScriptedProvider
from bot.app import create_app
from bot.models import OutboundReply
from bot.runtime import Runtime
from bot.settings import Settings
from testing import FIXTURE_BOT
from tests.conftest import RuntimeFactory

BAKERY = """
name: Corner <Bakery>
persona: You are the counter of Corner <Bakery>, a small bakery.
tone: cheerful and short, no emoji
welcome: Welcome to Corner <Bakery>! Ask me about bread & cakes.
"""


def bakery(tmp_path: Path) -> Path:
    text = FIXTURE_BOT.read_text(encoding="utf-8").replace("name: Fixture Bot\n", BAKERY)
    (tmp_path / "bot.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "bot.yaml"


async def say(rt: Runtime, session: str, text: str) -> OutboundReply:
    web = rt.adapters["web"]
    assert isinstance(web, WebChatAdapter)
    message = to_inbound(ChatRequest(text=text), session, "local:" + session)
    reply, _ = await web.wait_reply(await rt.ingest(message))
    assert reply is not None
    return reply


async def test_the_definition_names_greets_and_instructs_the_agent(
    tmp_path: Path, runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    model = ScriptedProvider()
    async with runtime_factory(settings=make_settings(bot_definition=bakery(tmp_path)),
                               llm=model) as rt:
        session = new_session_id()
        assert (await say(rt, session, "hello")).text == (
            "Welcome to Corner <Bakery>! Ask me about bread & cakes.")
        model.script([ScriptedAnswer(text="Fresh bread from 7am.")])
        assert (await say(rt, session, "when is yoga")).text == "Fresh bread from 7am."
        system = model.requests[-1].system
        assert system.startswith("You are the counter of Corner <Bakery>, a small bakery.")
        assert "Tone: cheerful and short, no emoji" in system
        app = create_app(rt.settings, runtime=rt)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as client:
            page = (await client.get("/")).text
    # escaped: the page never takes a definition's text as markup
    assert "<title>Corner &lt;Bakery&gt;</title>" in page
    assert "<h1>Corner &lt;Bakery&gt;</h1>" in page
    assert 'data-welcome="Welcome to Corner &lt;Bakery&gt;! Ask me about bread &amp; cakes."' \
        in page


async def test_settings_override_the_name_and_persona_only_when_set(
    tmp_path: Path, runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings],
) -> None:
    definition = FIXTURE_BOT.read_text(encoding="utf-8").replace(
        "name: Fixture Bot\n", "name: Corner Bakery\npersona: You are the bakery's counter.\n")
    (tmp_path / "bot.yaml").write_text(definition, encoding="utf-8")
    model = ScriptedProvider()
    settings = make_settings(bot_definition=tmp_path / "bot.yaml", bot_name="Crumbs",
                             bot_persona="You are Crumbs, the night shift.")
    async with runtime_factory(settings=settings, llm=model) as rt:
        session = new_session_id()
        assert (await say(rt, session, "hello")).text.startswith("Hi! I'm Crumbs.")
        model.script([ScriptedAnswer(text="We bake at night.")])
        await say(rt, session, "when is yoga")
        assert model.requests[-1].system.startswith("You are Crumbs, the night shift.")
    model = ScriptedProvider()
    async with runtime_factory(settings=make_settings(bot_definition=tmp_path / "bot.yaml"),
                               llm=model) as rt:
        session = new_session_id()
        assert (await say(rt, session, "hello")).text.startswith("Hi! I'm Corner Bakery.")
        model.script([ScriptedAnswer(text="We bake at night.")])
        await say(rt, session, "when is yoga")
        system = model.requests[-1].system
        assert system.startswith("You are the bakery's counter.\nYour name is Corner Bakery.")
