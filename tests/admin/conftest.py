"""Dashboard fixtures: a started runtime with ADMIN_TOKEN, and a logged-in HTTP client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import Settings
from tests.conftest import RuntimeFactory
from tests.handoff.test_flow import KeywordClassifier

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
AdminRuntime = Callable[..., Any]


@pytest.fixture
def admin_runtime(runtime_factory: RuntimeFactory,
                  make_settings: Callable[..., Settings]) -> AdminRuntime:
    """A started runtime (worker included) with the dashboard enabled, and its app."""
    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[Runtime, Any]]:
        settings = make_settings(admin_token=ADMIN_TOKEN, **overrides)
        async with runtime_factory(classifier=KeywordClassifier(), settings=settings) as rt:
            yield rt, create_app(settings, runtime=rt)  # lifespan not run: rt is started
    return start


async def log_in(client: httpx.AsyncClient, staff: str = "maria",
                 token: str = ADMIN_TOKEN) -> httpx.Response:
    form = await client.get("/admin/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce is not None
    return await client.post("/admin/login", data={"staff": staff, "token": token,
                                                   "nonce": nonce.group(1)})


def csrf_of(page_html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page_html)
    assert found is not None
    return found.group(1)
