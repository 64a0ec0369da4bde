"""`bot test [PATH…] [--junit FILE] [--live]` and `bot test record CONVERSATION_ID`.

PATH is a bot's folder (its `tests/*.yaml`), a folder of test files or one file; without
one, the tests of the bot BOT_DEFINITION names. A test file belongs to the nearest
`bot.yaml` above it. Exit 1 when a test fails or a file cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from bot.cli.common import LoadSettings
from bot.cli.conversation_tests.spec import (
    ConversationFileError,
    ConversationTest,
    load_conversation_file,
)


def _test_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    folder = path / "tests" if (path / "bot.yaml").exists() else path
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def _definition_of(path: Path) -> Path | None:
    for folder in [path.resolve(), *path.resolve().parents]:
        if (folder / "bot.yaml").is_file():
            return folder / "bot.yaml"
    return None


Planned = list[tuple[Path, ConversationTest]]


def _collect(paths: list[Path], fallback: Path | None) -> dict[Path, Planned]:
    """The tests to run, grouped by the bot definition they belong to."""
    found: dict[Path, Planned] = {}
    for path in paths:
        if not path.exists():
            raise ConversationFileError(f"{path}: no such file or folder")
        files = _test_files(path)
        if not files:
            raise ConversationFileError(f"{path}: no test files (*.yaml) there")
        for file in files:
            definition = _definition_of(file) or fallback
            if definition is None:
                raise ConversationFileError(f"{file}: no bot.yaml above it; set BOT_DEFINITION")
            found.setdefault(definition, []).extend(
                (file, test) for test in load_conversation_file(file).tests)
    return found


def add_commands(sub: Any, load_settings: LoadSettings) -> None:
    def run(args: argparse.Namespace) -> int:
        if args.paths and args.paths[0] == "record":
            return _record(args, load_settings)
        from bot.cli.conversation_tests.report import print_outcomes, write_junit
        from bot.cli.conversation_tests.runner import RunOptions, run_tests
        from bot.observability import configure_logging

        configure_logging("WARNING", as_json=False)
        settings = load_settings()
        default = settings.definition_path
        paths = [Path(p) for p in args.paths] or ([default.parent] if default else [])
        try:
            groups = _collect(paths, default)
        except ConversationFileError as exc:
            print(exc, file=sys.stderr)
            return 1
        outcomes = []
        for definition, tests in groups.items():
            outcomes += asyncio.run(run_tests(
                tests, RunOptions(definition, live=args.live), load_settings))
        print_outcomes(outcomes, verbose=args.verbose)
        if args.junit:
            write_junit(outcomes, Path(args.junit))
        return 0 if outcomes and all(o.passed for o in outcomes) else 1

    cmd = sub.add_parser("test", help="run conversation tests (or `bot test record ID`)")
    cmd.add_argument("paths", nargs="*", metavar="PATH",
                     help="a bot's folder, a folder of test files or a file"
                          " (default: the tests of BOT_DEFINITION's bot)")
    cmd.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML")
    cmd.add_argument("--live", action="store_true",
                     help="use the configured LLM provider instead of the scripted model")
    cmd.add_argument("-v", "--verbose", action="store_true",
                     help="print every step's reply, intent, buttons and tools")
    cmd.add_argument("-o", "--output", metavar="FILE",
                     help="with `record`: write the test there (default: print it)")
    cmd.set_defaults(func=run)


def _record(args: argparse.Namespace, load_settings: LoadSettings) -> int:
    from bot.cli.conversation_tests.record import recorded_test
    from bot.db.standalone import standalone_database

    if len(args.paths) != 2:
        print("usage: bot test record CONVERSATION_ID [-o FILE]", file=sys.stderr)
        return 2
    try:
        conversation = UUID(args.paths[1])
    except ValueError:
        print(f"not a conversation id: {args.paths[1]!r}", file=sys.stderr)
        return 2

    async def record() -> str:
        async with standalone_database(load_settings()) as db:
            return await recorded_test(db, conversation, f"recorded {conversation}")

    text = asyncio.run(record())
    if not text:
        print(f"no customer messages in conversation {conversation}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0
