"""`bot kb ingest PATH` and `bot kb search QUERY`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.settings import Settings


def add_commands(sub: Any, settings: Callable[[], Settings]) -> None:
    kb = sub.add_parser("kb", help="the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    ingest = kb_sub.add_parser("ingest", help="index Markdown files (unchanged passages are"
                                              " skipped, removed ones deleted)")
    ingest.add_argument("path", type=Path, help="a folder of *.md files, or one file")
    ingest.add_argument("--collection", default="default")
    ingest.set_defaults(func=lambda args: _run(_ingest(args, settings())))
    search = kb_sub.add_parser("search", help="show the best passages and their scores")
    search.add_argument("query")
    search.add_argument("--collection", default="default")
    search.add_argument("-k", type=int, default=None, help="passages to show")
    search.set_defaults(func=lambda args: _run(_search(args, settings())))


def _run(work: Any) -> int:
    asyncio.run(work)
    return 0


async def _ingest(args: argparse.Namespace, settings: Settings) -> None:
    from bot.db.standalone import standalone_database
    from bot.knowledge.ingest import ingest_path

    async with standalone_database(settings) as db:
        report = await ingest_path(db, args.path, collection=args.collection,
                                   max_chars=settings.kb_chunk_max_chars)
    print(f"{report.files} files: {report.added} passages added, {report.unchanged} unchanged,"
          f" {report.removed} removed")


async def _search(args: argparse.Namespace, settings: Settings) -> None:
    from uuid import UUID

    from bot.db.standalone import standalone_database
    from bot.knowledge.search import search_knowledge

    async with standalone_database(settings) as db, db.as_user(UUID(int=0)) as conn:
        result = await search_knowledge(conn, args.query, args.k or settings.kb_search_results,
                                        collection=args.collection)
    verdict = ("answer" if result.is_confident(settings.kb_answer_min_confidence)
               else "clarify")
    print(f"confidence {result.confidence:.2f} ({verdict}); searched: {result.corrected_query}")
    for passage in result.passages:
        print(f"\n{passage.score:.2f}  {passage.heading}  ({passage.source})\n{passage.content}")
