"""The processes and fakes a load or fault run needs, all on 127.0.0.1.

`bot serve` runs as a subprocess with its channels pointed at fakes this process
serves (Twilio REST, Slack Web API, an OpenAI-compatible LLM), so the fakes' records
(when each reply arrived) share this process's monotonic clock with the load
generator. The bare endpoint is another subprocess, served the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import traffic
from bench.pgcluster import free_port
from testing import FIXTURE_BOT
from testing.llm_server import FakeLLMServer, Step
from testing.slack_api import FakeSlackApi, serve_fake_slack
from testing.twilio_api import FakeTwilio, running_fake_twilio

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Fakes:
    """The platforms' fakes, running in this process's event loop."""

    twilio: FakeTwilio
    slack: FakeSlackApi
    llm: FakeLLMServer


@asynccontextmanager
async def running_fakes(llm_delay_s: float = 0.0,
                        reply: str = "Yoga is at 7 pm on weekdays.") -> AsyncIterator[Fakes]:
    """Twilio, Slack and the LLM fakes on loopback; the model answers `reply`."""
    llm = FakeLLMServer()
    llm.llm.default = Step(text=reply, delay_s=llm_delay_s)
    await llm.start()
    try:
        async with running_fake_twilio(traffic.ACCOUNT_SID, traffic.AUTH_TOKEN) as twilio, \
                serve_fake_slack() as slack:
            yield Fakes(twilio, slack, llm)
    finally:
        await llm.stop()


def bot_env(database_url: str, fakes: Fakes, port: int, data_dir: Path,
            extra: dict[str, str], root: Path = ROOT) -> dict[str, str]:
    """The environment of `bot serve`: every external service is a loopback fake. `root`
    is the source tree whose code runs (another checkout, to compare two versions)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "SLACK_", "OPENAI_", "ANTHROPIC_", "LLM_"))}
    env.update(
        PYTHONPATH=str(root), DATABASE_URL=database_url, DATA_DIR=str(data_dir),
        MODEL_CACHE_DIR=str(ROOT / ".data/test-models"),
        BOT_DEFINITION=str(FIXTURE_BOT),
        RUN_MIGRATIONS_ON_START="false", LOG_LEVEL="WARNING",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        TWILIO_ACCOUNT_SID=traffic.ACCOUNT_SID, TWILIO_AUTH_TOKEN=traffic.AUTH_TOKEN,
        TWILIO_WHATSAPP_FROM=traffic.SENDER, TWILIO_API_BASE_URL=fakes.twilio.base_url,
        SLACK_SIGNING_SECRET=traffic.SLACK_SECRET, SLACK_BOT_TOKEN=traffic.SLACK_TOKEN,
        SLACK_API_BASE_URL=fakes.slack.url, SLACK_POST_INTERVAL_S="0",
        LLM_PROVIDER="openai", OPENAI_BASE_URL=fakes.llm.url + "/v1", OPENAI_API_KEY="sk-bench",
        # the load is many messages from few people: limits are not what is measured
        RATE_LIMIT_USER="100000/minute", RATE_LIMIT_SESSION="100000/hour",
        RATE_LIMIT_IP="1000000/minute", RATE_LIMIT_GLOBAL="1000000/minute",
        LLM_USER_DAILY_TOKEN_BUDGET="100000000", LLM_DAILY_COST_CAP_USD="100000",
        # one message is one turn (the 1.5 s burst wait would only add to every time)
        WHATSAPP_BURST_WINDOW_S="0", WHATSAPP_TYPING_AFTER_S="-1",
        WEB_REPLY_TIMEOUT_S="20",
    )
    env.update(extra)
    return env


class Process:
    """A subprocess serving HTTP on a loopback port, stopped at the end."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, log: Path,
                 cwd: Path = ROOT) -> None:
        self.args, self.env, self.port, self.log, self.cwd = args, env, port, log, cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 120.0) -> None:
        with self.log.open("ab") as out:  # Popen returns at once: nothing waits here
            self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.cwd,  # noqa: ASYNC220
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.args[:4]} exited; see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.args[:4]} not healthy in {timeout_s} s; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def bot_server(env: dict[str, str], port: int, log: Path, *args: str,
               root: Path = ROOT) -> Process:
    """`bot serve` of the tree at `root` (its own directory first on the import path)."""
    return Process([sys.executable, "-m", "bot.cli", "serve", "--port", str(port), *args],
                   env, port, log, cwd=root)


def bare_server(log: Path) -> Process:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return Process([sys.executable, "-m", "bench.bare_app", "--port", str(port)], env, port, log)


def worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A standalone `bot worker` with the same environment as the server."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
