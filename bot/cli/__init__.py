"""The `bot` command: one module per family of sub-commands, each adding its own.

`python -m bot.cli` and the `bot` script both run `main`.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version

from bot.cli import authoring, check, contacts, conversation_tests, handoffs, process
from bot.db.logins import AppLoginError
from bot.settings import MissingSecretError, Settings


def load_settings(**overrides: object) -> Settings:  # a `bot.cli.common.LoadSettings`
    """The process's settings, or exit naming what is wrong with the configuration."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except MissingSecretError as exc:
        sys.exit(f"configuration error: {exc}")
    except ValueError as exc:  # pydantic's ValidationError names the variable
        sys.exit(f"configuration error: {exc}")


def installed_version() -> str:
    try:
        return version("messaging-bot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="Messaging bot platform")
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for family in (process, authoring, check, conversation_tests, handoffs, contacts):
        family.add_commands(sub, load_settings)
    from bot.knowledge.cli import add_commands as add_knowledge_commands
    from bot.plugins import add_plugin_commands

    add_knowledge_commands(sub, load_settings)
    add_plugin_commands(sub, load_settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except AppLoginError as exc:
        sys.exit(f"configuration error: {exc}")
    return code
