"""Seeding a fresh database once, and the `bot seed-demo` / `bot kb ingest` commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from bot.cli import main
from bot.db.pool import Database
from studio.seed import PLANS, seed_demo_if_empty
from studio.startup import prepare_demo
from tests.conftest import build_test_settings, migrated_database, primary_server_url

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def fresh_url() -> AsyncIterator[str]:
    async with migrated_database(primary_server_url()) as conninfo:
        yield conninfo


async def test_seed_if_empty_seeds_once(fresh_url: str, tmp_path: Path) -> None:
    db = Database(fresh_url, build_test_settings(fresh_url, tmp_path))
    await db.open()
    try:
        first = await seed_demo_if_empty(db, days=3)
        second = await seed_demo_if_empty(db, days=3)
    finally:
        await db.close()
    assert first is not None and first.classes > 0 and first.plans == len(PLANS)
    assert first.opening_hours == 7
    assert second is None


async def test_prepare_demo_on_every_start(fresh_url: str, tmp_path: Path) -> None:
    db = Database(fresh_url, build_test_settings(fresh_url, tmp_path))
    await db.open()
    try:
        first = await prepare_demo(db, ROOT / "bots/studio/knowledge")
        second = await prepare_demo(db, ROOT / "bots/studio/knowledge")
    finally:
        await db.close()
    assert first.seeded is not None and first.knowledge.added > 0
    assert second.seeded is None
    assert (second.knowledge.added, second.knowledge.removed) == (0, 0)
    assert second.knowledge.unchanged == first.knowledge.added


def test_commands_seed_and_ingest(fresh_url: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_url)
    monkeypatch.setenv("RUN_MIGRATIONS_ON_START", "false")
    assert main(["seed-demo", "--days", "7"]) == 0
    assert main(["seed-demo", "--days", "7"]) == 0
    assert main(["kb", "ingest", str(ROOT / "bots/studio/knowledge")]) == 0
    assert main(["kb", "ingest", str(ROOT / "bots/studio/knowledge")]) == 0
    assert main(["kb", "search", "cancelation polcy", "-k", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("added ") and lines[1].startswith("added 0 classes, 0 plans")
    assert " 0 unchanged," in lines[2] and " 0 passages added," in lines[3]
    assert lines[4].startswith("confidence ") and "(answer)" in lines[4]
    assert "Policies › Cancellation policy  (policies.md)" in "\n".join(lines[5:])
    with psycopg.connect(fresh_url) as conn:
        row = conn.execute("SELECT count(*) FROM app.studio_classes").fetchone()
    assert row is not None and row[0] > 0
