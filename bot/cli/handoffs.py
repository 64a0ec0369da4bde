"""`bot handoffs`: working handed-off conversations without Slack."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from bot.cli.common import LoadSettings
from bot.handoff.service import HandoffService


def add_commands(sub: Any, load_settings: LoadSettings) -> None:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_handoffs(args, load_settings))

    handoffs = sub.add_parser("handoffs", help="conversations handed to a person")
    handoffs.set_defaults(func=run, action=None)
    hsub = handoffs.add_subparsers(dest="action")
    hsub.add_parser("list", help="waiting and claimed handoffs")
    hsub.add_parser("stats", help="handoffs per trigger and intent, median times").add_argument(
        "--days", type=int, default=7, help="how far back (default 7)")
    for action, text in (("show", "the conversation so far"), ("claim", "take it"),
                         ("reply", "answer the customer (// starts an internal note)"),
                         ("resolve", "close the handoff and the session"),
                         ("back", "give the conversation back to the bot")):
        cmd = hsub.add_parser(action, help=text)
        cmd.add_argument("id", help="handoff id (from `bot handoffs`)")
        if action == "reply":
            cmd.add_argument("text", nargs="+")
        cmd.add_argument("--staff", default="staff", help="your name, shown to colleagues")


async def _handoffs(args: argparse.Namespace, load_settings: LoadSettings) -> int:
    from bot.observability import configure_logging
    from bot.runtime import Runtime

    settings = load_settings()
    configure_logging("WARNING", as_json=False)
    runtime = Runtime(settings)
    await runtime.start(worker=False, listen_events=False)
    try:
        return await _act(runtime.handoffs, args)
    except (LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await runtime.stop()


async def _act(service: HandoffService, args: argparse.Namespace) -> int:
    if args.action in (None, "list"):
        waiting = await service.list_open()
        if not waiting:
            print("No conversations are waiting for a person.")
        for h in waiting:
            print(f"{h.id}  {h.status:<8} {h.channel:<9} {h.display_name}  "
                  f"since {h.created_at:%Y-%m-%d %H:%M}  {h.reason}")
            for line in h.summary.splitlines():
                print(f"    {line}")
        return 0
    if args.action == "stats":
        stats = await service.stats(datetime.now(UTC) - timedelta(days=args.days))

        def minutes(seconds: float | None) -> str:
            return "-" if seconds is None else f"{seconds / 60:.1f} min"
        print(f"last {args.days} days: {stats.total} handoffs, {stats.waiting} waiting; "
              f"median time to claim {minutes(stats.median_claim_s)}, "
              f"to resolve {minutes(stats.median_resolve_s)}")
        for title, counts in (("by trigger", stats.by_trigger),
                              ("by intent", stats.by_intent)):
            print(f"{title}: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
        return 0
    handoff_id = UUID(args.id)
    staff = args.staff
    if args.action == "show":
        view = await service.view(handoff_id)
        print(f"{view.display_name} ({view.channel}), {view.status}: {view.reason}")
        print("\n".join(view.recent))
        return 0
    if args.action == "claim":
        result = await service.claim(handoff_id, staff)
    elif args.action == "reply":
        result = await service.reply(handoff_id, staff, " ".join(args.text))
    else:
        result = await service.finish(handoff_id, staff, back_to_bot=args.action == "back")
    print(result.text)
    return 0 if result.ok else 1
