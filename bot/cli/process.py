"""Running the bot: `bot serve`, `bot worker`, `bot migrate`, `bot chat`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import LoadSettings


def add_commands(sub: Any, load_settings: LoadSettings) -> None:
    def serve(args: argparse.Namespace) -> int:
        import uvicorn

        from bot.app import create_app

        settings = load_settings(**({"slack_socket_mode": True} if args.socket_mode else {}))
        from bot.cli.check import check_definition, report

        # the definition's problems before anything is trained or served (`bot check`)
        if report(check_definition(settings.definition_path, settings, near_duplicates=False)):
            return 1
        if args.no_worker:
            settings.worker_in_process = False
        _warn_if_exposed(args.host or settings.host, settings)
        if args.reload:
            return _serve_reloading(args, settings)
        app = create_app(settings)
        # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the
        # handler it found: by default that kills the process before exit handlers run, and
        # the embedded PostgreSQL it started (stopped at exit) would keep running. Found as
        # an exit, SIGTERM ends it like Ctrl-C does (what Docker, systemd and Kubernetes send).
        signal.signal(signal.SIGTERM, _exit_cleanly)
        # proxy headers are read inside the app, from TRUSTED_PROXIES only (bot/proxies.py)
        uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port,
                    log_level=settings.log_level.lower(), access_log=False,
                    proxy_headers=False)
        return 0

    def worker(args: argparse.Namespace) -> int:
        asyncio.run(_worker(load_settings))
        return 0

    def migrate(args: argparse.Namespace) -> int:
        applied = asyncio.run(_migrate(load_settings))
        print("applied: " + ", ".join(applied) if applied else "database is up to date")
        return 0

    def chat(args: argparse.Namespace) -> int:
        from bot.cli.chat import chat_in_terminal

        asyncio.run(chat_in_terminal(load_settings))
        return 0

    cmd = sub.add_parser("serve", help="serve web chat, API and webhooks (with a worker)")
    cmd.add_argument("--host")
    cmd.add_argument("--port", type=int)
    cmd.add_argument("--no-worker", action="store_true",
                     help="do not run a worker in this process (use `bot worker`)")
    cmd.add_argument("--reload", action="store_true",
                     help="restart when the bot's folder changes (definition, plugin, "
                          "knowledge, tests): for development")
    cmd.add_argument("--socket-mode", action="store_true",
                     help="receive Slack events over Socket Mode (SLACK_APP_TOKEN), "
                          "for development behind NAT")
    cmd.set_defaults(func=serve)
    sub.add_parser("worker", help="run a standalone queue worker").set_defaults(func=worker)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=migrate)
    sub.add_parser("chat", help="talk to the bot from the terminal").set_defaults(func=chat)


#: shorter admin tokens are guessable enough to warn about on a public address
ADMIN_TOKEN_MIN_CHARS = 24


def _warn_if_exposed(host: str, settings: Any) -> None:
    """A server reachable from other machines with a weak or no dashboard token says so."""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost"
    if local:
        return
    token = settings.admin_token
    if token is None:
        print(f"warning: listening on {host} with ADMIN_TOKEN unset: the dashboard is off",
              file=sys.stderr)
    elif len(token.get_secret_value()) < ADMIN_TOKEN_MIN_CHARS:
        print(f"warning: listening on {host} with an ADMIN_TOKEN shorter than "
              f"{ADMIN_TOKEN_MIN_CHARS} characters: anyone who reaches the server can try "
              "to guess it", file=sys.stderr)


#: what a change to restarts the server under --reload (the bot's folder only)
RELOAD_FILES = ["*.yaml", "*.yml", "*.md", "*.py", "*.sql", "*.txt"]


def _serve_reloading(args: argparse.Namespace, settings: Any) -> int:
    """uvicorn's reloader: a server process that is replaced, settings read again from the
    environment, whenever a file of the bot's folder changes (watchfiles)."""
    import uvicorn

    from bot.db.embedded import start_embedded

    folder = settings.definition_path.parent if settings.definition_path else Path.cwd()
    if settings.database_url is None:
        # The embedded server belongs to this process, not to the server processes that
        # come and go: it starts once, and stops when this process ends (SIGTERM too,
        # through the reloader's own handler).
        os.environ["DATABASE_URL"] = start_embedded(settings.embedded_database_dir)
    # the child builds its settings from the environment: the command's options go there
    if args.socket_mode:
        os.environ["SLACK_SOCKET_MODE"] = "true"
    if args.no_worker:
        os.environ["WORKER_IN_PROCESS"] = "false"
    print(f"reloading on changes in {folder}", file=sys.stderr)
    uvicorn.run("bot.app:create_app", factory=True, reload=True, reload_dirs=[str(folder)],
                reload_includes=RELOAD_FILES, host=args.host or settings.host,
                port=args.port or settings.port, log_level=settings.log_level.lower(),
                access_log=False, proxy_headers=False)
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


async def _worker(load_settings: LoadSettings) -> None:
    from bot.observability import configure_logging
    from bot.runtime import Runtime

    settings = load_settings()
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


async def _migrate(load_settings: LoadSettings) -> list[str]:
    from bot.db.embedded import resolve_database_url
    from bot.db.migrate import apply_migrations
    from bot.definition import load_definition

    settings = load_settings()
    conninfo = await resolve_database_url(settings.database_url, settings.embedded_database_dir)
    return await apply_migrations(
        conninfo, bot_migrations=load_definition(settings.definition_path).migrations,
        app_login=settings.database_app_url)
