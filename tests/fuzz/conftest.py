"""A bot served over real HTTP in a thread of its own, for hypothesis to hammer.

Hypothesis runs each example synchronously, so the server (and the fakes it talks
to) live in a background thread with their own event loop; examples use a plain
synchronous httpx client against it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import uvicorn

from bench import traffic
from bot.app import create_app
from testing.slack_api import serve_fake_slack
from testing.twilio_api import running_fake_twilio
from tests.conftest import build_test_settings

PUBLIC = "https://bot.example.com"
ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"


@dataclass
class LiveBot:
    url: str
    db_url: str

    def stored_inbound(self) -> int:
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute("SELECT count(*) FROM app.messages WHERE direction = 'in'"
                               " AND channel IN ('whatsapp', 'slack')").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(scope="module")
def live_bot(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBot]:
    ready = threading.Event()
    stop = threading.Event()
    found: dict[str, str] = {}
    tmp: Path = tmp_path_factory.mktemp("fuzz")

    async def main() -> None:
        async with running_fake_twilio(traffic.ACCOUNT_SID, traffic.AUTH_TOKEN) as twilio, \
                serve_fake_slack() as slack:
            settings = build_test_settings(
                db_url, tmp, worker_in_process=False, public_base_url=PUBLIC,
                twilio_account_sid=traffic.ACCOUNT_SID, twilio_auth_token=traffic.AUTH_TOKEN,
                twilio_whatsapp_from=traffic.SENDER, twilio_api_base_url=twilio.base_url,
                slack_signing_secret=traffic.SLACK_SECRET, slack_bot_token=traffic.SLACK_TOKEN,
                slack_api_base_url=slack.url, web_reply_timeout_s=0.2,
                admin_token=ADMIN_TOKEN)
            server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1",
                                                  port=0, log_level="warning", lifespan="on"))
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
            found["url"] = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
            ready.set()
            await asyncio.to_thread(stop.wait)
            server.should_exit = True
            await task

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(60), "fuzz server did not start"
    yield LiveBot(found["url"], db_url)
    stop.set()
    thread.join(30)
