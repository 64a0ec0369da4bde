"""Search the knowledge base: best passages with their source, a score and a confidence.

The score (0–1) blends, over the collection's passages:
  coverage    share of the question's words the passage contains
  heading     share of them in the passage's own heading
  all_terms   the passage matches the whole question (websearch_to_tsquery)
  rank        ts_rank_cd of any of the words (mostly a tie-breaker)
  trigram     pg_trgm word similarity to the question's keywords (when installed)
  vector      cosine similarity of embeddings (when pgvector and an Embedder are there)
Each available part counts with its weight; missing ones drop out of the blend.
Typos are corrected against the collection's own vocabulary first, so a question
like "cancelation polcy" finds "cancellation policy" with or without pg_trgm.
"""

from __future__ import annotations

import difflib
import re

from pydantic import BaseModel, Field

from bot.db.pool import Conn
from bot.knowledge.embed import Embedder, vector_literal
from bot.knowledge.store import knowledge_features

WEIGHTS = {"coverage": 0.4, "heading": 0.25, "all_terms": 0.15, "rank": 0.05,
           "trigram": 0.15, "vector": 0.35}
# difflib ratio for taking a vocabulary word as the meant one ("polcy" → "policy");
# words this short or shorter are too easily mistaken for others to be corrected
CORRECTION_CUTOFF = 0.8
CORRECTION_MIN_LENGTH = 5


class SearchKnowledgeInput(BaseModel):
    """What a knowledge-base search tool takes."""

    query: str = Field(min_length=1, max_length=500, description="The question, in words")
    k: int = Field(3, ge=1, le=10, description="How many passages to return")


class Passage(BaseModel):
    """One passage found, where it came from, and how well it matches."""

    source: str
    heading: str
    content: str
    score: float = Field(ge=0, le=1)


class SearchResult(BaseModel):
    """Passages best first; `confidence` is the top passage's score (0 when none)."""

    query: str
    corrected_query: str
    passages: list[Passage] = Field(default_factory=list)

    @property
    def confidence(self) -> float:
        return self.passages[0].score if self.passages else 0.0

    def is_confident(self, threshold: float) -> bool:
        """Whether the top passage is good enough to answer from on its own."""
        return bool(self.passages) and self.confidence >= threshold


def correct_query(query: str, vocabulary: set[str], keywords: set[str]) -> str:
    """The query with unknown keywords replaced by the closest word of the vocabulary.

    Only `keywords` (the query's words that are not stop words) are corrected:
    "where" must not become "here".
    """
    ordered = sorted(vocabulary)

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        lowered = word.lower()
        if (len(lowered) < CORRECTION_MIN_LENGTH or lowered in vocabulary
                or lowered not in keywords):
            return word
        close = difflib.get_close_matches(lowered, ordered, n=1, cutoff=CORRECTION_CUTOFF)
        return close[0] if close else word

    return re.sub(r"[A-Za-z]+", fix, query)


async def vocabulary(conn: Conn, collection: str) -> set[str]:
    """Every word of the collection's passages (unstemmed), for typo correction."""
    cur = await conn.execute(
        "SELECT word FROM ts_stat(format("
        "'SELECT to_tsvector(''simple'', heading || '' '' || content) FROM app.kb_chunks"
        " WHERE collection = %%L', %s::text)) WHERE length(word) >= 3", (collection,))
    return {row["word"] for row in await cur.fetchall() if row["word"].isalpha()}


async def keywords(conn: Conn, query: str) -> set[str]:
    """The query's words that full-text search keeps (English stop words dropped)."""
    cur = await conn.execute("SELECT lower(token) AS token FROM ts_debug('english', %s)"
                             " WHERE array_length(lexemes, 1) > 0", (query,))
    return {row["token"] for row in await cur.fetchall()}


def _search_sql(trigram: bool, vector: bool) -> str:
    parts = {
        "coverage": "(SELECT count(*) FROM unnest(q.lexemes) l"
                    " WHERE c.search @@ quote_literal(l)::tsquery)::float8 / q.n",
        "heading": "(SELECT count(*) FROM unnest(q.lexemes) l"
                   " WHERE c.search @@ (quote_literal(l) || ':A')::tsquery)::float8 / q.n",
        "all_terms": "(c.search @@ q.web)::int::float8",
        "rank": "ts_rank_cd(c.search, q.any_term, 32)",
    }
    match = ["c.search @@ q.any_term"]
    if trigram:
        parts["trigram"] = "word_similarity(q.keywords, c.heading || ' ' || c.content)"
        match.append("q.keywords <%% (c.heading || ' ' || c.content)")
    if vector:
        # only vectors of the same model are comparable (and of the same size)
        parts["vector"] = ("CASE WHEN c.embedding_model = %(model)s"
                           " THEN greatest(1 - (c.embedding <=> %(vector)s::vector), 0)"
                           " ELSE 0 END")
        match.append("c.embedding_model = %(model)s")
    total = sum(WEIGHTS[name] for name in parts)
    score = " + ".join(f"{WEIGHTS[name] / total:.4f} * ({expr})" for name, expr in parts.items())
    return f"""
WITH terms AS (
  SELECT websearch_to_tsquery('english', %(query)s) AS web,
         ARRAY(SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', %(query)s))))
           AS lexemes,
         coalesce((SELECT string_agg(token, ' ') FROM ts_debug('english', %(query)s)
                    WHERE array_length(lexemes, 1) > 0), '') AS keywords
), q AS (
  SELECT web, lexemes, keywords, greatest(cardinality(lexemes), 1) AS n,
         array_to_string(ARRAY(SELECT quote_literal(l) FROM unnest(lexemes) l), ' | ')::tsquery
           AS any_term
    FROM terms WHERE cardinality(lexemes) > 0
)
SELECT c.source, c.heading, c.content, least(greatest({score}, 0), 1) AS score
  FROM app.kb_chunks c, q
 WHERE c.collection = %(collection)s AND ({" OR ".join(match)})
 ORDER BY score DESC, ts_rank_cd(c.search, q.web) DESC, c.source, c.ordinal
 LIMIT %(k)s
"""


async def search_knowledge(conn: Conn, query: str, k: int = 3, *, collection: str = "default",
                           embedder: Embedder | None = None) -> SearchResult:
    """The `k` passages that best answer `query`, best first."""
    corrected = correct_query(query, await vocabulary(conn, collection),
                              await keywords(conn, query))
    features = await knowledge_features(conn)
    params: dict[str, object] = {"query": corrected, "collection": collection, "k": k}
    use_vector = features.vector and embedder is not None
    if use_vector:
        assert embedder is not None
        [vec] = await embedder.embed([corrected])
        params["vector"] = vector_literal(vec)
        params["model"] = embedder.name
    cur = await conn.execute(_search_sql(features.trigram, use_vector), params)
    passages = [Passage(**row) for row in await cur.fetchall()]
    return SearchResult(query=query, corrected_query=corrected, passages=passages)
