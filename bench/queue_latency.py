"""How long 30 messages over 3 conversations take to be answered, by queue poll interval.

Procrastinate only re-checks a job whose lock was busy at the next poll, so back-to-back
turns of one conversation wait for QUEUE_POLL_INTERVAL_S unless the drain job picks
the new message up itself (which ours does). This measures both effects:

    python -m bench.queue_latency --polls 5.0 0.2 0.05

Uses DATABASE_URL when set, else the embedded server in .data/bench-postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from uuid import uuid4

from bot.db.embedded import resolve_database_url
from bot.models import InboundMessage, OutboundReply
from bot.observability import configure_logging
from bot.routing.responder import Emit, TurnContext
from bot.routing.router import Router
from bot.runtime import Runtime
from bot.settings import Settings


class Echo:
    async def respond(self, turn: TurnContext, emit: Emit) -> OutboundReply:
        return OutboundReply(text=turn.text)


async def run_once(poll: float, messages: int, conversations: int, data_dir: Path) -> float:
    url = await resolve_database_url(Settings(_env_file=None).database_url,  # type: ignore[call-arg]
                                     data_dir / "postgres")
    settings = Settings(_env_file=None, database_url=url, data_dir=data_dir,  # type: ignore[call-arg]
                        queue_poll_interval_s=poll, log_level="WARNING",
                        rate_limit_user="100000/minute", rate_limit_session="100000/hour",
                        rate_limit_global="100000/minute", prepare_bot_on_start=False)
    runtime = Runtime(settings, router=Router(Echo()))
    await runtime.start(worker=True)
    try:
        keys = [f"bench-{uuid4().hex[:8]}" for _ in range(conversations)]
        started = time.perf_counter()
        results = [await runtime.ingest(InboundMessage(
            channel="web", external_id=uuid4().hex, sender_id=keys[i % conversations],
            conversation_key=keys[i % conversations], text=f"m{i}")) for i in range(messages)]
        ids = [r.message_id for r in results]
        while True:
            async with runtime.db.as_system() as conn:
                cur = await conn.execute(
                    "SELECT count(*) AS n FROM app.messages WHERE direction = 'out'"
                    " AND status = 'sent' AND reply_to = ANY(%s)", (ids,))
                row = await cur.fetchone()
            if row and row["n"] == messages:
                return time.perf_counter() - started
            await asyncio.sleep(0.02)
    finally:
        await runtime.stop()


async def main_async(args: argparse.Namespace) -> None:
    configure_logging("WARNING", as_json=False)
    for poll in args.polls:
        runs = [await run_once(poll, args.messages, args.conversations, Path(args.data_dir))
                for _ in range(args.repeat)]
        print(f"poll {poll:>5} s: {args.messages} messages over {args.conversations} "
              f"conversations answered in median {statistics.median(runs):.2f} s "
              f"(runs: {', '.join(f'{r:.2f}' for r in runs)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=float, nargs="+", default=[5.0, 0.2, 0.05])
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--conversations", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", default=".data/bench")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
