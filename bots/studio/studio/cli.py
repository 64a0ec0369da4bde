"""`bot seed-demo`: fill the example studio's timetable, plans and hours."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from bot.settings import Settings
from studio.models import DEFAULT_TIMEZONE, studio_zone


def add_commands(sub: Any, settings: Callable[[], Settings]) -> None:
    seed = sub.add_parser("seed-demo", help="add the example studio's classes, plans and hours"
                                            " (idempotent)")
    seed.add_argument("--days", type=int, default=14, help="days of timetable from today")
    seed.add_argument("--timezone", default=DEFAULT_TIMEZONE, help="the studio's time zone")
    seed.set_defaults(func=lambda args: _run_seed(args, settings()))


def _run_seed(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db.standalone import standalone_database
    from studio.seed import seed_demo

    async def run() -> None:
        async with standalone_database(settings) as db:
            report = await seed_demo(db, days=args.days, tz=studio_zone(args.timezone))
        print(f"added {report.classes} classes, {report.plans} plans,"
              f" {report.opening_hours} opening-hours rows")

    asyncio.run(run())
    return 0
