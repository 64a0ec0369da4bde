"""The embedded PostgreSQL used when DATABASE_URL is unset (pgserver).

The data folder lives under the project's data dir, so conversations survive
restarts; pgserver shares one server between processes using the same folder and
stops it when the last of them exits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server in `data_dir`; return its connection URI."""
    import pgserver  # imported here: starting a server is an explicit act, not an import effect

    data_dir.mkdir(parents=True, exist_ok=True)
    get_server: Any = pgserver.get_server  # type: ignore[attr-defined]
    server: Any = get_server(str(data_dir.resolve()), cleanup_mode="stop")
    uri: str = server.get_uri()
    return uri


async def start_embedded_async(data_dir: Path) -> str:
    return await asyncio.to_thread(start_embedded, data_dir)


async def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """DATABASE_URL when set, otherwise the embedded server's URI."""
    if database_url:
        return database_url
    return await start_embedded_async(data_dir)
