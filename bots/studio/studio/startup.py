"""One call for a process start: the demo data when the database has none, the
knowledge files indexed (a no-op when they have not changed)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from bot.db.pool import Database
from bot.knowledge.ingest import IngestReport, ingest_path
from studio.models import SeedReport
from studio.seed import seed_demo_if_empty


class DemoReady(BaseModel):
    """What preparing the example bot did."""

    seeded: SeedReport | None
    knowledge: IngestReport


async def prepare_demo(db: Database, knowledge_dir: Path, *, collection: str = "default",
                       max_chars: int = 1200, tz: ZoneInfo | None = None) -> DemoReady:
    """Seed an empty studio and index its knowledge files; safe on every start."""
    seeded = await seed_demo_if_empty(db, tz=tz)
    knowledge = await ingest_path(db, knowledge_dir, collection=collection, max_chars=max_chars)
    return DemoReady(seeded=seeded, knowledge=knowledge)
