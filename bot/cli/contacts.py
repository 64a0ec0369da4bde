"""`bot admin export-user|erase-user`: everything held about a person, or its erasure."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import LoadSettings


def add_commands(sub: Any, load_settings: LoadSettings) -> None:
    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_admin(args, load_settings))

    admin = sub.add_parser("admin", help="operator commands").add_subparsers(
        dest="action", required=True)
    for action, text in (("export-user", "export everything held about a person as JSON"),
                         ("erase-user", "erase a person's data (leaves an audit record)")):
        cmd = admin.add_parser(action, help=text)
        cmd.add_argument("--channel", required=True, help="web, whatsapp or slack")
        cmd.add_argument("--id", required=True,
                         help="identity on that channel (e.g. whatsapp:+15551234567)")
        cmd.add_argument("--actor", default="operator", help="who runs this, for the audit log")
        if action == "export-user":
            cmd.add_argument("--out", help="write to this file instead of stdout")
        else:
            cmd.add_argument("--yes", action="store_true", help="confirm the erasure")
        cmd.set_defaults(func=run)


async def _admin(args: argparse.Namespace, load_settings: LoadSettings) -> int:
    from bot.contacts import erase_contact, export_contact, find_contact
    from bot.db.embedded import resolve_database_url
    from bot.db.logins import app_conninfo
    from bot.db.pool import Database

    settings = load_settings()
    owner = await resolve_database_url(settings.database_url, settings.embedded_database_dir)
    db = Database(app_conninfo(owner, settings.database_app_url), settings)
    await db.open()
    try:
        contact = await find_contact(db, args.channel, args.id)
        if contact is None:
            print(f"no contact with {args.channel} identity {args.id!r}", file=sys.stderr)
            return 1
        actor = f"cli:{args.actor}"
        if args.action == "export-user":
            data = await export_contact(db, contact, actor)
            text = json.dumps(data, default=str, indent=2)
            if args.out:
                await asyncio.to_thread(Path(args.out).write_text, text, encoding="utf-8")
                print(f"exported to {args.out}")
            else:
                print(text)
            return 0
        if not args.yes:
            print("erasure deletes this person's data for good; add --yes to confirm",
                  file=sys.stderr)
            return 2
        counts = await erase_contact(db, contact, actor)
        print(json.dumps({"erased": counts}))
        return 0
    finally:
        await db.close()
