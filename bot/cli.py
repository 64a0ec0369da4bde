"""The `bot` command: serve, worker, migrate, chat, eval, kb, and the bot plugin's own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from bot.settings import MissingSecretError, Settings


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except MissingSecretError as exc:
        sys.exit(f"configuration error: {exc}")
    except ValueError as exc:  # pydantic's ValidationError names the variable
        sys.exit(f"configuration error: {exc}")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.app import create_app

    settings = _settings(**({"slack_socket_mode": True} if args.socket_mode else {}))
    if args.no_worker:
        settings.worker_in_process = False
    app = create_app(settings)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port,
                log_level=settings.log_level.lower(), access_log=False)
    return 0


async def _worker() -> None:
    from bot.observability import configure_logging
    from bot.runtime import Runtime

    settings = _settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.worker_nice and hasattr(os, "nice"):
        os.nice(settings.worker_nice)
    runtime = Runtime(settings)
    await runtime.start(worker=False, listen_events=False)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Ours, not procrastinate's: they must also end a restart wait after a
        # database error, and tell running drains to stop between turns.
        loop.add_signal_handler(sig, runtime.request_stop)
    try:
        await runtime.start_worker(install_signal_handlers=False)
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.wait_worker()
    finally:
        await runtime.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    asyncio.run(_worker())
    return 0


async def _migrate() -> list[str]:
    from bot.db.embedded import resolve_database_url
    from bot.db.migrate import apply_migrations
    from bot.definition import load_definition

    settings = _settings()
    conninfo = await resolve_database_url(settings.database_url, settings.embedded_database_dir)
    return await apply_migrations(
        conninfo, bot_migrations=load_definition(settings.definition_path).migrations)


def cmd_migrate(args: argparse.Namespace) -> int:
    applied = asyncio.run(_migrate())
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


async def _chat() -> None:
    from adapters.web import ChatRequest, WebChatAdapter, new_session_id, to_inbound
    from bot.observability import configure_logging
    from bot.runtime import Runtime

    settings = _settings()
    configure_logging("WARNING", as_json=False)
    runtime = Runtime(settings)
    await runtime.start(worker=True)
    web = runtime.adapters["web"]
    assert isinstance(web, WebChatAdapter)
    session_id = new_session_id()
    print(f"Chatting with {settings.bot_name} (session {session_id}). Ctrl-D to leave.")
    try:
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                break
            if not text.strip():
                continue
            result = await runtime.ingest(to_inbound(ChatRequest(text=text), session_id))
            reply, _ = await web.wait_reply(result)
            if reply is None:
                print("bot> (still working on it…)")
                continue
            print(f"bot> {reply.text}")
            for number, option in enumerate(reply.options(), start=1):
                print(f"     {number}. {option.title}")
    finally:
        await runtime.stop()


def cmd_chat(args: argparse.Namespace) -> int:
    asyncio.run(_chat())
    return 0


async def _admin(args: argparse.Namespace) -> int:
    import json

    from bot.contacts import erase_contact, export_contact, find_contact
    from bot.db.embedded import resolve_database_url
    from bot.db.pool import Database

    settings = _settings()
    conninfo = await resolve_database_url(settings.database_url, settings.embedded_database_dir)
    db = Database(conninfo, settings)
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


def cmd_admin(args: argparse.Namespace) -> int:
    return asyncio.run(_admin(args))


async def _handoffs(args: argparse.Namespace) -> int:
    from uuid import UUID

    from bot.observability import configure_logging
    from bot.runtime import Runtime

    settings = _settings()
    configure_logging("WARNING", as_json=False)
    runtime = Runtime(settings)
    await runtime.start(worker=False, listen_events=False)
    try:
        service = runtime.handoffs
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
            from datetime import UTC, datetime, timedelta

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
    except (LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await runtime.stop()


def cmd_handoffs(args: argparse.Namespace) -> int:
    return asyncio.run(_handoffs(args))


def cmd_eval(args: argparse.Namespace) -> int:
    # Each evaluation owns its options (and its --help); the rest of the line is theirs.
    # They live in research/, beside the package in a source checkout and absent from an
    # installed wheel; imported by name, so that the package never depends on them.
    module = f"research.{args.what}.evaluation"
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "research" / "__init__.py").is_file() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))  # an editable install puts only bot/ on the path
    try:
        run_eval: Callable[[list[str]], int] = importlib.import_module(module).main
    except ModuleNotFoundError as exc:
        if exc.name not in ("research", f"research.{args.what}", module):
            raise
        print(f"`bot eval {args.what}` runs the evaluation code in research/, which is not "
              "installed with the package: run it from a source checkout of the project "
              "(pip install -e . there).", file=sys.stderr)
        return 2
    return run_eval(list(args.rest))


def cmd_new(args: argparse.Namespace) -> int:
    from bot.scaffold import scaffold_bot

    try:
        path = scaffold_bot(args.name, Path(args.dir))
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created {path}\nrun it with: BOT_DEFINITION={path} make run")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="Messaging bot platform")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve web chat, API and webhooks (with a worker)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--no-worker", action="store_true",
                       help="do not run a worker in this process (use `bot worker`)")
    serve.add_argument("--socket-mode", action="store_true",
                       help="receive Slack events over Socket Mode (SLACK_APP_TOKEN), "
                            "for development behind NAT")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="run a standalone queue worker").set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("chat", help="talk to the bot from the terminal").set_defaults(func=cmd_chat)
    evaluate = sub.add_parser(
        "eval", help="measure a model: `bot eval injection --data PATH`, "
                     "`bot eval intents --train PATH --test PATH` (--help after the name)",
        add_help=False)
    evaluate.add_argument("what", choices=("injection", "intents"))
    evaluate.add_argument("rest", nargs=argparse.REMAINDER)
    evaluate.set_defaults(func=cmd_eval)
    new = sub.add_parser("new", help="scaffold a new bot definition")
    new.add_argument("name", help="the bot's display name")
    new.add_argument("--dir", default="bots", help="parent folder (default: bots)")
    new.set_defaults(func=cmd_new)
    handoffs = sub.add_parser("handoffs", help="conversations handed to a person")
    handoffs.set_defaults(func=cmd_handoffs, action=None)
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
        cmd.set_defaults(func=cmd_admin)
    from bot.knowledge.cli import add_commands as add_knowledge_commands
    from bot.plugins import add_plugin_commands

    add_knowledge_commands(sub, _settings)
    add_plugin_commands(sub, _settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
