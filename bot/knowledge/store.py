"""What the connected server offers the knowledge base: pg_trgm, pgvector."""

from __future__ import annotations

from pydantic import BaseModel

from bot.db.pool import Conn


class KnowledgeFeatures(BaseModel):
    """Optional capabilities, asked of the catalog (not assumed from the server kind)."""

    trigram: bool
    vector: bool


async def knowledge_features(conn: Conn) -> KnowledgeFeatures:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') AS trigram,"
        " EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'app.kb_chunks'::regclass"
        "          AND attname = 'embedding' AND NOT attisdropped) AS vector")
    row = await cur.fetchone()
    assert row is not None
    return KnowledgeFeatures(**row)
