"""The `bot` command: serve, worker, migrate, chat, eval."""

from __future__ import annotations

import argparse
import asyncio
import sys

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
    runtime = Runtime(settings)
    await runtime.start(worker=False, listen_events=False)
    try:
        await runtime.start_worker(install_signal_handlers=True)
        await runtime.wait_worker()
    finally:
        await runtime.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    asyncio.run(_worker())
    return 0


async def _migrate() -> list[str]:
    from bot.db.embedded import resolve_database_url
    from bot.db.migrate import apply_migrations

    settings = _settings()
    conninfo = await resolve_database_url(settings.database_url, settings.embedded_database_dir)
    return await apply_migrations(conninfo)


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
