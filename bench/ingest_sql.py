"""Database time of the ingestion statement, per stored message, by batch size.

The web process stores webhooks with one `INGEST_SQL` statement per batch (group
commit); this times that statement alone, sequentially, on a throwaway cluster
configured like the load benchmark's, for known senders in known conversations
(the steady state). `--compare FILE` also times the `app.ingest_message` defined in
another migration file (for example an older version), alternating with the
current one in the same database:

    python -m bench.ingest_sql --compare migrations/0004_system_functions.sql

Loopback only, bounded: `--batches` statements per batch size and round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import secrets
import time
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from bench.pgcluster import ThrowawayCluster
from bot.db import messages
from bot.db.migrate import apply_migrations, default_migrations_dir, load_migrations
from bot.models import InboundMessage

SENDERS = 64


def whatsapp_message(sender: int, n: int) -> InboundMessage:
    phone = f"whatsapp:+1555{sender:07d}"
    return InboundMessage(
        channel="whatsapp", external_id=f"SM{secrets.token_hex(16)}", sender_id=phone,
        sender_name=f"User {sender}", conversation_key=phone,
        text=f"message {n}: what are your opening hours on Saturday?",
        raw={"MessageSid": "SM0", "AccountSid": "AC0", "From": phone, "To": "whatsapp:+1",
             "Body": "hello", "NumMedia": "0", "ProfileName": f"User {sender}", "WaId": "1555"})


def function_from(source: str) -> str | None:
    """The `app.ingest_message` definition in a migration's text, as CREATE OR REPLACE."""
    found = re.search(r"CREATE (?:OR REPLACE )?FUNCTION app\.ingest_message\(.*?\$\$;",
                      source, re.S)
    if found is None:
        return None
    return re.sub(r"^CREATE (?:OR REPLACE )?", "CREATE OR REPLACE ", found.group(0))


async def time_batches(conn: psycopg.AsyncConnection[dict[str, object]], size: int,
                       batches: int) -> float:
    """Mean microseconds of database time per message over `batches` statements."""
    total = 0.0
    for n in range(batches):
        rows = [messages._ingest_row(k, whatsapp_message(random.randrange(SENDERS), n), "t")
                for k in range(size)]
        payload = json.dumps(rows)
        started = time.perf_counter()
        await (await conn.execute(messages.INGEST_SQL, (payload,))).fetchall()
        total += time.perf_counter() - started
    return total / batches / size * 1e6


async def run(args: argparse.Namespace) -> None:
    defined = [f for m in load_migrations(default_migrations_dir())
               if (f := function_from(m.sql)) is not None]
    versions = {"current": defined[-1]}
    if args.compare:
        other = function_from(args.compare.read_text(encoding="utf-8"))
        if other is None:
            raise SystemExit(f"no app.ingest_message in {args.compare}")
        versions[str(args.compare)] = other
    with ThrowawayCluster() as cluster:
        url = cluster.create_database("ingest_" + secrets.token_hex(3))
        await apply_migrations(url)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True,
                                                         row_factory=dict_row) as conn:
            first = [messages._ingest_row(s, whatsapp_message(s, 0), "t") for s in range(SENDERS)]
            await (await conn.execute(messages.INGEST_SQL, (json.dumps(first),))).fetchall()
            for size in args.sizes:
                best: dict[str, float] = {}
                for _ in range(args.rounds):  # alternating, best round kept
                    for name, definition in versions.items():
                        await conn.execute(definition.encode())
                        us = await time_batches(conn, size, args.batches)
                        best[name] = min(best.get(name, us), us)
                print(f"batch {size:>3}: " + ", ".join(f"{name} {us:.0f} us/message"
                                                      for name, us in best.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="a migration file with another version")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
