"""Shared fixtures: a real PostgreSQL database per test run, settings and runtimes.

DATABASE_URL selects the server; without it the embedded server (pgserver) is
started in .data/test-postgres. Each run creates its own database and drops it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from bot.db.embedded import start_embedded
from bot.db.migrate import apply_migrations
from bot.db.pool import Database
from bot.definition import load_definition
from bot.models import InboundMessage
from bot.runtime import Runtime
from bot.settings import Settings
from testing import FIXTURE_BOT
from testing.database import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_BOT = ROOT / "bots/studio/bot.yaml"
EXTERNAL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def embedded_server_url() -> str:
    return start_embedded(Path(os.environ.get("BOT_TEST_DATA_DIR", ROOT / ".data/test-postgres")))


def primary_server_url() -> str:
    return os.environ.get("DATABASE_URL") or embedded_server_url()


def server_reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@asynccontextmanager
async def migrated_database(server_url: str,
                            bot: Path | None = EXAMPLE_BOT) -> AsyncIterator[str]:
    """A new database with the platform's migrations and those of the bot definition
    `bot` (by default the example bot, whose tables many tests use)."""
    conninfo = create_database(server_url)
    try:
        await apply_migrations(conninfo, bot_migrations=load_definition(bot).migrations)
        yield conninfo
    finally:
        drop_database(server_url, conninfo)


@pytest.fixture(scope="session")
async def db_url() -> AsyncIterator[str]:
    async with migrated_database(primary_server_url()) as conninfo:
        yield conninfo


SETTLE_LEFTOVER_WORK = """
UPDATE app.messages SET status = 'failed', error = 'left unanswered by a finished test'
 WHERE (direction = 'in' AND status = 'received')
    OR (direction = 'out' AND status IN ('pending', 'sending'));
DELETE FROM procrastinate_jobs WHERE status IN ('todo', 'doing');
"""
BLOCKERS = """
SELECT pid, state, application_name, now() - xact_start AS open_for, left(query, 200)
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
"""


@pytest.fixture(autouse=True)
async def settle_leftover_work(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After a test on the shared database, nothing it left unanswered or queued is
    picked up by the next test's runtime (whose recovery would otherwise drain it
    with that test's responder and fakes, and make its counts wrong).

    Async, so the event loop (shared by the whole session) keeps running while it
    waits: a task of the finished test still inside a transaction can end it, where a
    blocking call here would wait on that task forever.
    """
    url = request.getfixturevalue("db_url") if "db_url" in request.fixturenames else None
    yield
    if url is None:
        return
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SET lock_timeout = '20s'")
        try:
            await conn.execute(SETTLE_LEFTOVER_WORK)
        except psycopg.errors.LockNotAvailable:
            # Something of the test still holds the rows after its runtime stopped (the
            # process exit would end it in production): name it in a warning, end it.
            blockers = await (await conn.execute(BLOCKERS)).fetchall()
            warnings.warn(f"{request.node.nodeid} left open transactions: {blockers}",
                          stacklevel=1)
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state LIKE 'idle in transaction%'")
            await conn.execute(SETTLE_LEFTOVER_WORK)


def build_test_settings(database_url: str, tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url, "data_dir": tmp, "run_migrations_on_start": False,
        "queue_poll_interval_s": 0.05, "queue_recovery_interval_s": 0.5,
        "queue_stalled_after_s": 2.0, "queue_heartbeat_interval_s": 0.5,
        "log_level": "WARNING", "web_reply_timeout_s": 15.0, "db_pool_max_size": 20,
        # high limits by default: rate limiting has its own tests
        "rate_limit_user": "1000/minute", "rate_limit_session": "1000/hour",
        "rate_limit_ip": "1000/minute", "rate_limit_global": "10000/minute",
        "bot_definition": FIXTURE_BOT,
        "handoff_hours": "mon-sun 00:00-24:00",
        "model_cache_dir": ROOT / ".data/test-models",
        # The injection detector's MiniLM session costs ~100 MB per Runtime and the suite
        # starts hundreds; tests/safety/test_injection_embedding.py runs one with it on.
        "injection_embedding": False,
        # one process starts hundreds of runtimes: frozen objects would never be collected
        "gc_freeze_after_start": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def make_settings(db_url: str, tmp_path: Path) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        return build_test_settings(db_url, tmp_path, **overrides)
    return build


RuntimeFactory = Callable[..., AbstractAsyncContextManager[Runtime]]


@pytest.fixture
def runtime_factory(make_settings: Callable[..., Settings]) -> RuntimeFactory:
    @asynccontextmanager
    async def start(*, worker: bool = True, settings: Settings | None = None,
                    runtime_class: type[Runtime] = Runtime,
                    **kwargs: Any) -> AsyncIterator[Runtime]:
        rt = runtime_class(settings or make_settings(), **kwargs)
        await rt.start(worker=worker)
        try:
            yield rt
        finally:
            await rt.stop()
    return start


@pytest.fixture
async def db(make_settings: Callable[..., Settings], db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, make_settings())
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def inbound() -> Callable[..., InboundMessage]:
    """Factory of inbound messages with unique ids unless given."""
    def build(**fields: Any) -> InboundMessage:
        sender = fields.pop("sender_id", "user-" + uuid4().hex[:12])
        values: dict[str, Any] = {
            "channel": "web", "external_id": uuid4().hex, "sender_id": sender,
            "conversation_key": fields.pop("conversation_key", "conv-" + sender), "text": "hello",
        }
        values.update(fields)
        return InboundMessage(**values)
    return build


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0,  # noqa: ASYNC109
                   interval: float = 0.05) -> None:
    """Poll an async condition until it holds (behaviour, not timing, is asserted)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="session")
def external_server_url() -> Iterator[str | None]:
    url = os.environ.get("BOT_TEST_EXTERNAL_DATABASE_URL", EXTERNAL_DEFAULT)
    yield url if server_reachable(url) else None


StartWorker = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture
def start_worker(db_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Starts `bot worker` subprocesses on the test database (killed at the end); keyword
    arguments are extra environment variables."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TWILIO_", "SLACK_", "OPENAI_", "ANTHROPIC_", "LLM_"))}
        env.update(extra)
        env.update(DATABASE_URL=db_url, DATA_DIR=str(tmp_path), RUN_MIGRATIONS_ON_START="false",
                   QUEUE_POLL_INTERVAL_S="0.05", QUEUE_HEARTBEAT_INTERVAL_S="0.5",
                   QUEUE_STALLED_AFTER_S="2", QUEUE_RECOVERY_INTERVAL_S="0.5",
                   LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT),
                   BOT_DEFINITION=str(FIXTURE_BOT),
                   MODEL_CACHE_DIR=str(ROOT / ".data/test-models"),
                   RATE_LIMIT_USER="1000/minute", RATE_LIMIT_GLOBAL="10000/minute",
                   HANDOFF_HOURS="mon-sun 00:00-24:00")
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=tmp_path,
                                env=env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
