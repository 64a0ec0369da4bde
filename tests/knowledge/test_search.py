"""Ingest and search on the real database: with and without pg_trgm, with and without pgvector.

The embedded server has pgvector but no pg_trgm; the PostgreSQL at 127.0.0.1:5432
(BOT_TEST_EXTERNAL_DATABASE_URL) usually has pg_trgm and no pgvector, so the two
runs cover both optional paths.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest

from bot.db.pool import Database
from bot.knowledge.ingest import ingest_path, read_chunks
from bot.knowledge.render import answer_reply, cite
from bot.knowledge.search import Passage, correct_query, search_knowledge
from bot.knowledge.store import knowledge_features
from tests.conftest import build_test_settings, embedded_server_url, migrated_database

ROOT = Path(__file__).resolve().parents[2]
STUDIO_KB = ROOT / "bots/studio/knowledge"
THRESHOLD = 0.5
READER = UUID(int=7)


@pytest.fixture(params=["embedded", "local-5432"], scope="module")
async def kb_db(request: pytest.FixtureRequest, external_server_url: str | None,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    if request.param == "embedded":
        server = embedded_server_url()
    else:
        if external_server_url is None:
            pytest.skip("no PostgreSQL reachable at BOT_TEST_EXTERNAL_DATABASE_URL")
        server = external_server_url
    async with migrated_database(server) as conninfo:
        database = Database(conninfo, build_test_settings(conninfo, tmp_path_factory.mktemp("k")))
        await database.open()
        yield database
        await database.close()


@pytest.fixture(scope="module")
async def studio(kb_db: Database) -> str:
    collection = "studio-" + uuid4().hex[:6]
    await ingest_path(kb_db, STUDIO_KB, collection=collection)
    return collection


async def test_ingest_skips_unchanged_and_drops_removed(kb_db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    shutil.copytree(STUDIO_KB, folder)
    collection = uuid4().hex
    first = await ingest_path(kb_db, folder, collection=collection)
    assert first.files == 5 and first.added > 20 and first.unchanged == first.removed == 0
    again = await ingest_path(kb_db, folder, collection=collection)
    assert (again.added, again.unchanged, again.removed) == (0, first.added, 0)

    policies = folder / "policies.md"
    before = {c.content_hash for c in read_chunks(policies, 1200).chunks}
    policies.write_text(policies.read_text().replace("12 hours", "24 hours"))
    after = {c.content_hash for c in read_chunks(policies, 1200).chunks}
    classes = len(read_chunks(folder / "classes.md", 1200).chunks)
    (folder / "classes.md").unlink()
    changed = await ingest_path(kb_db, folder, collection=collection)
    assert len(after - before) == 2  # the cancellation policy and the late-cancellation rules
    assert changed.added == len(after - before)
    assert changed.removed == len(before - after) + classes
    assert changed.unchanged == first.added - changed.removed
    async with kb_db.as_user(READER) as conn:
        cur = await conn.execute("SELECT source, content FROM app.kb_chunks WHERE collection = %s",
                                 (collection,))
        rows = await cur.fetchall()
    assert "classes.md" not in {r["source"] for r in rows}
    assert not any("12 hours before" in r["content"] for r in rows if r["source"] == "policies.md")
    assert any("24 hours before" in r["content"] for r in rows)

    # one file re-indexed alone leaves the other sources alone
    single = await ingest_path(kb_db, folder / "faq.md", collection=collection)
    assert single.files == 1 and single.added == single.removed == 0
    async with kb_db.as_user(READER) as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM app.kb_chunks WHERE collection = %s",
                                 (collection,))
        assert await cur.fetchone() == {"n": len(rows)}


async def test_app_role_reads_but_cannot_write(kb_db: Database, studio: str) -> None:
    async with kb_db.as_user(READER) as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM app.kb_chunks WHERE collection = %s",
                                 (studio,))
        row = await cur.fetchone()
    assert row is not None and row["n"] > 0
    for statement in ("INSERT INTO app.kb_chunks (source, ordinal, heading, title, content,"
                      " content_hash) VALUES ('x', 0, 'x', 'x', 'x', 'x')",
                      "UPDATE app.kb_chunks SET content = 'changed'",
                      "DELETE FROM app.kb_chunks"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with kb_db.as_user(READER) as conn:
                await conn.execute(statement)


@pytest.mark.parametrize("question", ["what's your cancellation policy?", "cancelation polcy",
                                      "Cancellation Policy"])
async def test_finds_the_cancellation_policy(kb_db: Database, studio: str,
                                             question: str) -> None:
    async with kb_db.as_user(READER) as conn:
        result = await search_knowledge(conn, question, 3, collection=studio)
    top = result.passages[0]
    assert (top.heading, top.source) == ("Policies › Cancellation policy", "policies.md")
    assert "12 hours before" in top.content
    assert result.is_confident(THRESHOLD)
    assert [p.score for p in result.passages] == sorted((p.score for p in result.passages),
                                                        reverse=True)
    reply = answer_reply(result, THRESHOLD)
    assert "Source: Policies › Cancellation policy" in reply.text


@pytest.mark.parametrize(("question", "heading"), [
    ("can I bring a friend?", "Policies › Guest passes"),
    ("where do I park", "Visiting the studio › Parking"),
    ("what time do you open on sunday", "Visiting the studio › Opening hours"),
    ("do I need to bring a mat", "Frequently asked questions › What should I bring?"),
    ("can I freeze my membership", "Policies › Membership freeze"),
    ("memebrship freez", "Policies › Membership freeze"),
])
async def test_answers_common_questions(kb_db: Database, studio: str, question: str,
                                        heading: str) -> None:
    async with kb_db.as_user(READER) as conn:
        result = await search_knowledge(conn, question, 3, collection=studio)
    assert result.passages[0].heading == heading
    assert result.is_confident(THRESHOLD)


@pytest.mark.parametrize("question", ["is there a sauna", "what's the weather on mars",
                                      "hello", "what is it", ""])
async def test_unrelated_questions_are_not_confident(kb_db: Database, studio: str,
                                                     question: str) -> None:
    async with kb_db.as_user(READER) as conn:
        result = await search_knowledge(conn, question, 3, collection=studio)
    assert not result.is_confident(THRESHOLD)
    reply = answer_reply(result, THRESHOLD)
    assert reply.options()[-1].payload == "intent:human_handoff"


def test_typos_are_corrected_against_the_vocabulary_only() -> None:
    vocabulary = {"cancellation", "policy", "parking", "where", "guest"}
    keywords = {"cancelation", "polcy", "parkng", "wher", "mars", "guets"}
    assert correct_query("Cancelation polcy", vocabulary, keywords) == "cancellation policy"
    assert correct_query("parkng wher mars", vocabulary, keywords) == "parking wher mars"
    # a stop word is never "corrected" into a content word
    assert correct_query("there", {"three"}, set()) == "there"


class HashingEmbedder:
    """A deterministic bag-of-words embedder: enough to exercise the pgvector path."""

    def __init__(self, name: str = "hashing-64") -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vec = [0.0] * 64
            for word in re.findall(r"[a-z]+", text.lower()):
                vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            vectors.append([v / norm for v in vec])
        return vectors


async def test_vector_similarity_when_pgvector_is_there(kb_db: Database) -> None:
    async with kb_db.as_user(READER) as conn:
        features = await knowledge_features(conn)
    if not features.vector:
        pytest.skip("this server has no pgvector")
    collection = uuid4().hex
    report = await ingest_path(kb_db, STUDIO_KB, collection=collection,
                               embedder=HashingEmbedder())
    assert report.embedded == report.added > 0
    again = await ingest_path(kb_db, STUDIO_KB, collection=collection,
                              embedder=HashingEmbedder())
    assert again.embedded == 0
    switched = await ingest_path(kb_db, STUDIO_KB, collection=collection,
                                 embedder=HashingEmbedder("hashing-64-v2"))
    assert switched.embedded == report.added
    async with kb_db.as_user(READER) as conn:
        result = await search_knowledge(conn, "cancelation polcy", 3, collection=collection,
                                        embedder=HashingEmbedder("hashing-64-v2"))
    assert result.passages[0].heading == "Policies › Cancellation policy"
    assert result.is_confident(THRESHOLD)


async def test_vectors_of_another_model_are_not_compared(kb_db: Database) -> None:
    async with kb_db.as_user(READER) as conn:
        if not (await knowledge_features(conn)).vector:
            pytest.skip("this server has no pgvector")
    collection = uuid4().hex
    await ingest_path(kb_db, STUDIO_KB, collection=collection, embedder=HashingEmbedder())

    class Wider(HashingEmbedder):
        async def embed(self, texts: Sequence[str]) -> list[list[float]]:
            return [[*v, 0.0] for v in await super().embed(texts)]

    async with kb_db.as_user(READER) as conn:
        result = await search_knowledge(conn, "cancellation policy", 3, collection=collection,
                                        embedder=Wider("wider-65"))
    assert result.passages[0].heading == "Policies › Cancellation policy"


def test_a_citation_names_the_document_for_people_not_its_file() -> None:
    titled = Passage(source="policies.md", heading="Policies › Cancellation policy",
                     content="x", score=1.0)
    untitled = Passage(source="opening-hours_2026.md", heading="", content="x",
                       score=1.0)
    assert cite(titled) == "Source: Policies › Cancellation policy"
    assert cite(untitled) == "Source: Opening hours 2026"
