"""After start-up, what it built is out of the garbage collector's sight."""

from __future__ import annotations

import gc
from collections.abc import Callable

from bot.settings import Settings
from tests.conftest import RuntimeFactory


async def test_startup_objects_are_frozen_when_enabled(
        runtime_factory: RuntimeFactory, make_settings: Callable[..., Settings]) -> None:
    before = gc.get_freeze_count()
    try:
        async with runtime_factory(worker=False,
                                   settings=make_settings(gc_freeze_after_start=True)):
            assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()  # the rest of the suite collects as usual
