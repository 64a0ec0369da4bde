"""`bot serve` warns when it is reachable from other machines with a weak dashboard token;
`bot chat` names the bot, takes a number for an option and prints staff replies."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli.chat import chosen_option
from bot.cli.process import _warn_if_exposed
from bot.models import Option
from bot.settings import Settings
from testing import FIXTURE_BOT
from tests.conftest import EXAMPLE_BOT, ROOT, RuntimeFactory


@pytest.mark.parametrize(("host", "token", "warned"), [
    ("127.0.0.1", None, ""), ("localhost", "short", ""), ("::1", None, ""),
    ("0.0.0.0", None, "ADMIN_TOKEN unset"), ("0.0.0.0", "short", "shorter than 24"),
    ("10.0.0.5", "a-token-long-enough-for-anyone-0123", ""),
])
def test_a_public_address_with_a_weak_token_is_warned_about(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str],
    host: str, token: str | None, warned: str,
) -> None:
    _warn_if_exposed(host, make_settings(admin_token=token))
    err = capsys.readouterr().err
    assert (warned in err) if warned else err == ""


def test_a_typed_number_picks_the_option_of_the_last_reply() -> None:
    offered = [Option(title="Class schedule", payload="intent:class_schedule"),
               Option(title="Talk to a person", payload="intent:human_handoff")]
    assert chosen_option("2", offered) == offered[1]
    assert chosen_option(" 1. ", offered) == offered[0]
    assert chosen_option("3", offered) is None and chosen_option("0", offered) is None
    assert chosen_option("1 more thing", offered) is None and chosen_option("1", []) is None


def chat_env(db_url: str, tmp_path: Path, definition: Path, **extra: str) -> dict[str, str]:
    """`bot chat`'s environment: the test database, no platform credentials."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "SLACK_", "OPENAI_", "ANTHROPIC_", "LLM_", "BOT_"))}
    env.update(DATABASE_URL=db_url, DATA_DIR=str(tmp_path), RUN_MIGRATIONS_ON_START="false",
               BOT_DEFINITION=str(definition), MODEL_CACHE_DIR=str(ROOT / ".data/test-models"),
               PYTHONPATH=str(ROOT), INJECTION_EMBEDDING="false", LOG_LEVEL="WARNING", **extra)
    return env


@pytest.mark.timeout(180)
def test_bot_chat_introduces_the_definitions_bot_and_takes_a_number(
    db_url: str, tmp_path: Path,
) -> None:
    env = chat_env(db_url, tmp_path, EXAMPLE_BOT, RATE_LIMIT_USER="1000/minute",
                   RATE_LIMIT_SESSION="1000/hour")
    done = subprocess.run([sys.executable, "-m", "bot.cli", "chat"], input="hi\n1\n",
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=150)
    out = done.stdout
    assert "Chatting with Harbor Fitness" in out, out
    greeting, answer = out.split("you> ")[1:3]
    assert "1. Class schedule" in greeting, out
    # "1" tapped the first option (the schedule), instead of being read as text
    assert answer.startswith("bot> Classes coming up"), out


@pytest.mark.timeout(180)
async def test_bot_chat_prints_a_staff_reply_as_it_arrives(
    db_url: str, tmp_path: Path, runtime_factory: RuntimeFactory,
) -> None:
    env = chat_env(db_url, tmp_path, FIXTURE_BOT, HANDOFF_HOURS="mon-sun 00:00-24:00")
    chat = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "chat", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env=env, cwd=tmp_path)
    assert chat.stdin is not None and chat.stdout is not None
    seen = ""

    async def read_until(marker: str) -> None:
        nonlocal seen
        async with asyncio.timeout(120):
            while marker not in seen:
                seen += (await chat.stdout.read(200)).decode()  # type: ignore[union-attr]
    try:
        await read_until("you> ")
        chat.stdin.write(b"I want to talk to a person\n")
        await read_until("They'll reply right here")
        async with runtime_factory(worker=False) as staff:
            open_ones = [h for h in await staff.handoffs.list_open()
                         if h.channel == "web" and h.status == "waiting"]
            newest = max(open_ones, key=lambda h: h.created_at)
            await staff.handoffs.reply(newest.id, "Maria", "Hi, Maria here. Let me look.")
        await read_until("Maria (team)> Hi, Maria here. Let me look.")
        chat.stdin.write(b"thanks Maria\n")
        await read_until("sent to the team")
    finally:
        chat.stdin.close()
        async with asyncio.timeout(30):
            await chat.wait()
