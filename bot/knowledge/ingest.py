"""Index Markdown knowledge files: add new passages, skip unchanged ones, drop removed ones.

Runs on the system connection (the owner writes; the app role only reads), in one
transaction under an advisory lock per collection, so concurrent ingests of the
same collection queue up and a search never sees a half-indexed collection.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel

from bot.db.pool import Conn, Database
from bot.knowledge.chunking import Chunk, chunk_markdown
from bot.knowledge.embed import Embedder, vector_literal
from bot.knowledge.store import knowledge_features


class IngestReport(BaseModel):
    """Passages added, left as they were, and deleted by one ingest."""

    files: int = 0
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    embedded: int = 0


class KnowledgeFiles(BaseModel):
    """The passages read from a path, the sources they came from, and the deletion scope."""

    chunks: list[Chunk]
    sources: list[str]
    single_file: bool


def read_chunks(path: Path, max_chars: int) -> KnowledgeFiles:
    """Chunks of one file or of every `*.md` under a folder.

    Sources are paths relative to the folder (or the file's name), so the same
    files give the same sources wherever the folder lives.
    """
    if not path.exists():
        raise FileNotFoundError(path)
    if path.is_file():
        files, root = [path], path.parent
    else:
        files, root = sorted(path.rglob("*.md")), path
    chunks: list[Chunk] = []
    sources: list[str] = []
    for file in files:
        source = file.relative_to(root).as_posix()
        sources.append(source)
        chunks.extend(chunk_markdown(file.read_text(encoding="utf-8"), source, max_chars))
    return KnowledgeFiles(chunks=chunks, sources=sources, single_file=path.is_file())


async def ingest_path(db: Database, path: Path, *, collection: str = "default",
                      max_chars: int = 1200, embedder: Embedder | None = None) -> IngestReport:
    """Index `path` (a folder: the whole collection; a file: only that source)."""
    found = await asyncio.to_thread(read_chunks, path, max_chars)
    report = IngestReport(files=len(found.sources))
    async with db.as_system() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('kb:' || %s))", (collection,))
        cur = await conn.execute(
            "SELECT id, source, content_hash, ordinal FROM app.kb_chunks WHERE collection = %s",
            (collection,))
        existing = {(r["source"], r["content_hash"]): r for r in await cur.fetchall()}
        wanted = {(c.source, c.content_hash): c for c in found.chunks}
        for key, chunk in wanted.items():
            row = existing.get(key)
            if row is None:
                await conn.execute(
                    "INSERT INTO app.kb_chunks (collection, source, ordinal, heading, title,"
                    " content, content_hash) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (collection, chunk.source, chunk.ordinal, chunk.heading, chunk.title,
                     chunk.content, chunk.content_hash))
                report.added += 1
                continue
            report.unchanged += 1
            if row["ordinal"] != chunk.ordinal:
                await conn.execute("UPDATE app.kb_chunks SET ordinal = %s WHERE id = %s",
                                   (chunk.ordinal, row["id"]))
        in_scope = set(found.sources) if found.single_file else None
        stale = [r["id"] for key, r in existing.items()
                 if key not in wanted and (in_scope is None or key[0] in in_scope)]
        if stale:
            await conn.execute("DELETE FROM app.kb_chunks WHERE id = ANY(%s)", (stale,))
        report.removed = len(stale)
        if embedder is not None and (await knowledge_features(conn)).vector:
            report.embedded = await _embed_missing(conn, collection, embedder)
    return report


async def _embed_missing(conn: Conn, collection: str, embedder: Embedder) -> int:
    cur = await conn.execute(
        "SELECT id, heading, content FROM app.kb_chunks WHERE collection = %s"
        " AND (embedding IS NULL OR embedding_model IS DISTINCT FROM %s)",
        (collection, embedder.name))
    rows = await cur.fetchall()
    if not rows:
        return 0
    vectors = await embedder.embed([f"{r['heading']}\n{r['content']}" for r in rows])
    for row, vector in zip(rows, vectors, strict=True):
        await conn.execute(
            "UPDATE app.kb_chunks SET embedding = %s::vector, embedding_model = %s,"
            " updated_at = now() WHERE id = %s",
            (vector_literal(vector), embedder.name, row["id"]))
    return len(rows)
