"""Row-level security: acting as one contact never reaches another contact's rows.

Runs against the embedded server and against the PostgreSQL at 127.0.0.1:5432
(BOT_TEST_EXTERNAL_DATABASE_URL), each with a fresh migrated database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import psycopg
import pytest

from bot.db.logins import app_conninfo
from bot.db.pool import Database
from tests.conftest import build_test_settings, embedded_server_url, migrated_database

USER_TABLES = ["contacts", "channel_identities", "conversations", "sessions", "messages",
               "user_context", "intent_classifications", "handoffs"]

# A row of each table owned by %(c)s, for insert attempts and seeding.
INSERTS = {
    "contacts": "INSERT INTO app.contacts (id, display_name) VALUES (%(c)s, 'x')",
    "channel_identities": "INSERT INTO app.channel_identities (channel, external_id, contact_id)"
                          " VALUES ('web', gen_random_uuid()::text, %(c)s)",
    "conversations": "INSERT INTO app.conversations (contact_id, channel, conversation_key)"
                     " VALUES (%(c)s, 'web', gen_random_uuid()::text)",
    "sessions": "INSERT INTO app.sessions (conversation_id, contact_id)"
                " SELECT id, contact_id FROM app.conversations WHERE contact_id = %(c)s LIMIT 1",
    "messages": "INSERT INTO app.messages (contact_id, conversation_id, direction, channel,"
                " external_id, status) SELECT contact_id, id, 'in', 'web',"
                " gen_random_uuid()::text, 'received' FROM app.conversations"
                " WHERE contact_id = %(c)s LIMIT 1",
    "user_context": "INSERT INTO app.user_context (contact_id, key, value, kind)"
                    " VALUES (%(c)s, gen_random_uuid()::text, '1', 'fact')",
    "intent_classifications": "INSERT INTO app.intent_classifications (contact_id, message_id,"
                              " intent, confidence, method, latency_ms)"
                              " SELECT contact_id, id, 'x', 1, 'local', 1 FROM app.messages"
                              " WHERE contact_id = %(c)s LIMIT 1",
    "handoffs": "INSERT INTO app.handoffs (contact_id, conversation_id, trigger)"
                " SELECT contact_id, id, 'test' FROM app.conversations"
                " WHERE contact_id = %(c)s LIMIT 1",
}
OWNER_COLUMN = {t: ("id" if t == "contacts" else "contact_id") for t in USER_TABLES}


@pytest.fixture(params=["embedded", "local-5432"], scope="module")
async def rls_db(request: pytest.FixtureRequest, external_server_url: str | None,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    if request.param == "embedded":
        server = embedded_server_url()
    else:
        if external_server_url is None:
            pytest.skip("no PostgreSQL reachable at BOT_TEST_EXTERNAL_DATABASE_URL")
        server = external_server_url
    async with migrated_database(server) as conninfo:
        settings = build_test_settings(conninfo, Path(tmp_path_factory.mktemp("r")))
        # As the server logs in: bot_app, never the owner (migrations/0730_app_login_role.sql).
        database = Database(app_conninfo(conninfo, None), settings)
        await database.open()
        OWNERS[database] = conninfo
        yield database
        await database.close()


OWNERS: dict[Database, str] = {}


def owner(db: Database) -> str:
    """The migrating owner's connection to the same database, for seeding and checking."""
    return OWNERS[db]


async def seed(db: Database, contact: UUID) -> None:
    async with await psycopg.AsyncConnection.connect(owner(db), autocommit=True) as conn:
        for table in USER_TABLES:
            await conn.execute(INSERTS[table], {"c": contact})
        await conn.execute("INSERT INTO app.audit_log (contact_id, actor, action)"
                           " VALUES (%s, 'test', 'seed')", (contact,))
        for statement in MORE_ROWS:
            await conn.execute(statement, {"c": contact})


# Rows of the tables no other test writes, so every table holds both people's rows.
MORE_ROWS = [
    "INSERT INTO app.tool_calls (contact_id, conversation_id, message_id, tool, side_effects,"
    " idempotency_key, status) SELECT contact_id, conversation_id, id, 'x', false,"
    " gen_random_uuid()::text, 'ok' FROM app.messages WHERE contact_id = %(c)s LIMIT 1",
    "INSERT INTO app.llm_calls (contact_id, provider, model, status)"
    " VALUES (%(c)s, 'fake', 'fake', 'ok')",
    "INSERT INTO app.studio_classes (class_type, title, instructor, starts_at,"
    " duration_minutes, capacity, room) VALUES ('yoga', 'x', 'x',"
    " now() + interval '1 day' + random() * interval '300 days', 60, 10, 'rls')",
    "INSERT INTO app.studio_bookings (contact_id, class_id, idempotency_key)"
    " SELECT %(c)s, id, gen_random_uuid()::text FROM app.studio_classes"
    " WHERE room = 'rls' ORDER BY id DESC LIMIT 1",
]


@pytest.fixture(scope="module")
async def pair(rls_db: Database) -> tuple[Database, UUID, UUID]:
    a, b = UUID(int=1), UUID(int=2)
    # Each param gets a fresh database, so fixed ids do not collide.
    await seed(rls_db, a)
    await seed(rls_db, b)
    return rls_db, a, b


@pytest.mark.parametrize("table", USER_TABLES)
async def test_cannot_read_other_users_rows(pair: tuple[Database, UUID, UUID],
                                            table: str) -> None:
    db, a, _ = pair
    col = OWNER_COLUMN[table]
    async with db.as_user(a) as conn:
        cur = await conn.execute(f"SELECT {col} AS owner FROM app.{table}")
        owners = {r["owner"] for r in await cur.fetchall()}
    assert owners == {a}


@pytest.mark.parametrize("table", [t for t in USER_TABLES if t != "channel_identities"])
async def test_cannot_update_other_users_rows(pair: tuple[Database, UUID, UUID],
                                              table: str) -> None:
    db, a, b = pair
    col = OWNER_COLUMN[table]
    try:
        async with db.as_user(a) as conn:
            cur = await conn.execute(
                f"UPDATE app.{table} SET {col} = {col} WHERE {col} = %s RETURNING 1", (b,))
            assert await cur.fetchall() == []
    except psycopg.errors.InsufficientPrivilege:
        pass  # the table is not updatable by the app at all
    # and cannot move an own row over to the other user
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a) as conn:
            await conn.execute(f"UPDATE app.{table} SET {col} = %s WHERE {col} = %s", (b, a))


@pytest.mark.parametrize("table", USER_TABLES)
async def test_cannot_insert_rows_for_other_user(pair: tuple[Database, UUID, UUID],
                                                 table: str) -> None:
    db, a, b = pair
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a) as conn:
            # the SELECT-based inserts read B's parent rows: seeing none must not make
            # the test pass vacuously, so they insert a literal row for B instead
            await conn.execute(INSERTS.get(table) if table in (
                "contacts", "channel_identities", "conversations", "user_context")
                else _literal_insert(table), {"c": b})


def _literal_insert(table: str) -> str:
    return {
        "sessions": "INSERT INTO app.sessions (conversation_id, contact_id)"
                    " VALUES (gen_random_uuid(), %(c)s)",
        "messages": "INSERT INTO app.messages (contact_id, conversation_id, direction, channel,"
                    " external_id, status) VALUES (%(c)s, gen_random_uuid(), 'in', 'web', 'x',"
                    " 'received')",
        "intent_classifications": "INSERT INTO app.intent_classifications (contact_id,"
                                  " message_id, intent, confidence, method, latency_ms)"
                                  " VALUES (%(c)s, 1, 'x', 1, 'local', 1)",
        "handoffs": "INSERT INTO app.handoffs (contact_id, conversation_id, trigger)"
                    " VALUES (%(c)s, gen_random_uuid(), 'x')",
    }[table]


@pytest.mark.parametrize("table", [*USER_TABLES, "audit_log"])
async def test_app_role_cannot_delete(pair: tuple[Database, UUID, UUID], table: str) -> None:
    db, a, _ = pair
    col = "id" if table == "contacts" else "contact_id"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a) as conn:
            await conn.execute(f"DELETE FROM app.{table} WHERE {col} = %s", (a,))


async def test_audit_log_is_insert_only(pair: tuple[Database, UUID, UUID]) -> None:
    db, a, b = pair
    async with db.as_user(a) as conn:
        await conn.execute("INSERT INTO app.audit_log (contact_id, actor, action)"
                           " VALUES (%s, 'user', 'test')", (a,))
    for statement in ("SELECT * FROM app.audit_log",
                      "UPDATE app.audit_log SET action = 'changed'"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with db.as_user(a) as conn:
                await conn.execute(statement)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a) as conn:
            await conn.execute("INSERT INTO app.audit_log (contact_id, actor, action)"
                               " VALUES (%s, 'user', 'forged')", (b,))


async def test_own_rows_are_usable(pair: tuple[Database, UUID, UUID]) -> None:
    db, a, _ = pair
    async with db.as_user(a) as conn:
        await conn.execute(INSERTS["user_context"], {"c": a})
        cur = await conn.execute("UPDATE app.user_context SET value = '2' WHERE contact_id = %s"
                                 " RETURNING 1", (a,))
        assert await cur.fetchall()


async def test_unit_of_work_role_has_no_bypassrls(pair: tuple[Database, UUID, UUID]) -> None:
    db, a, _ = pair
    async with db.as_user(a) as conn:
        cur = await conn.execute("SELECT current_user AS who, r.rolbypassrls, r.rolsuper"
                                 " FROM pg_roles r WHERE r.rolname = current_user")
        row = await cur.fetchone()
    assert row == {"who": "authenticated", "rolbypassrls": False, "rolsuper": False}


OWNER_FUNCTIONS = {
    "ingest_message": "SELECT * FROM app.ingest_message('whatsapp', '15550001111', NULL, "
                      "'15550001111', 'SMforged', 'hi', NULL, '[]', '{}', now(), NULL)",
    "record_delivery_status": "SELECT app.record_delivery_status('web', 1, NULL, 'failed', "
                              "'forged')",
    "pending_conversations": "SELECT * FROM app.pending_conversations('0 seconds')",
    "find_conversation": "SELECT * FROM app.find_conversation('whatsapp', '15550001111')",
    "purge_expired": "SELECT app.purge_expired()",
}


@pytest.mark.parametrize("function", sorted(OWNER_FUNCTIONS))
async def test_the_per_user_role_cannot_call_owner_functions(
    pair: tuple[Database, UUID, UUID], function: str,
) -> None:
    """They act on every user's rows; the application calls them only as the owner."""
    db, a, _ = pair
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a) as conn:
            await conn.execute(OWNER_FUNCTIONS[function])


async def test_forget_deletes_only_the_acting_users_own_fact(
    pair: tuple[Database, UUID, UUID],
) -> None:
    db, a, b = pair
    async with await psycopg.AsyncConnection.connect(owner(db), autocommit=True) as conn:
        for contact in (a, b):
            await conn.execute("INSERT INTO app.user_context (contact_id, key, value, kind)"
                               " VALUES (%s, 'home_city', '\"Porto\"', 'fact')"
                               " ON CONFLICT DO NOTHING", (contact,))
    forget = "SELECT app.forget_context('home_city') AS f"
    async with db.as_user(a) as conn:
        found = await (await conn.execute(forget)).fetchone()
        again = await (await conn.execute(forget)).fetchone()
    assert found is not None and found["f"] and again is not None and not again["f"]
    async with await psycopg.AsyncConnection.connect(owner(db), autocommit=True) as conn:
        rows = await (await conn.execute(
            "SELECT contact_id FROM app.user_context WHERE key = 'home_city'")).fetchall()
    assert [r[0] for r in rows] == [b], "gone for the acting user, kept for the other"


# (the other person's row, found as the owner; the insert the acting user tries with it)
CROSS_REFERENCES = {
    "a message in another person's conversation": (
        "SELECT id FROM app.conversations WHERE contact_id = %(b)s LIMIT 1",
        "INSERT INTO app.messages (contact_id, conversation_id, direction, channel,"
        " external_id, status) VALUES (%(a)s, %(ref)s, 'in', 'web', gen_random_uuid()::text,"
        " 'received')"),
    "a message in another person's session": (
        "SELECT id FROM app.sessions WHERE contact_id = %(b)s LIMIT 1",
        "INSERT INTO app.messages (contact_id, conversation_id, session_id, direction, channel,"
        " external_id, status) SELECT %(a)s, id, %(ref)s, 'in', 'web',"
        " gen_random_uuid()::text, 'received' FROM app.conversations"
        " WHERE contact_id = %(a)s LIMIT 1"),
    "a session of another person's conversation": (
        "SELECT id FROM app.conversations WHERE contact_id = %(b)s LIMIT 1",
        "INSERT INTO app.sessions (conversation_id, contact_id) VALUES (%(ref)s, %(a)s)"),
    "a classification of another person's message": (
        "SELECT id FROM app.messages WHERE contact_id = %(b)s LIMIT 1",
        "INSERT INTO app.intent_classifications (contact_id, message_id, intent, confidence,"
        " method, latency_ms) VALUES (%(a)s, %(ref)s, 'x', 1, 'local', 1)"),
}


@pytest.mark.parametrize("case", sorted(CROSS_REFERENCES))
async def test_a_row_cannot_point_at_another_persons_rows(
    pair: tuple[Database, UUID, UUID], case: str,
) -> None:
    """As an attacker who learnt another person's ids would try it."""
    db, a, b = pair
    find, insert = CROSS_REFERENCES[case]
    async with await psycopg.AsyncConnection.connect(owner(db), autocommit=True) as conn:
        row = await (await conn.execute(find, {"b": b})).fetchone()
    assert row is not None, "the other person's row exists"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(a) as conn:
            await conn.execute(insert, {"a": a, "ref": row[0]})


async def test_the_server_logs_in_as_neither_superuser_nor_owner(
    pair: tuple[Database, UUID, UUID],
) -> None:
    db, _, _ = pair
    async with db.as_system() as conn:
        row = await (await conn.execute(
            "SELECT session_user AS login, current_user AS acting, r.rolsuper,"
            " (SELECT count(*) FROM pg_tables WHERE schemaname = 'app'"
            "   AND tableowner = session_user) AS owned"
            " FROM pg_roles r WHERE r.rolname = session_user")).fetchone()
    assert row == {"login": "bot_app", "acting": "service_role", "rolsuper": False, "owned": 0}


def _every_app_table() -> str:
    return ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'app' AND c.relkind IN ('r', 'v') ORDER BY 1")


async def test_reset_role_inside_a_users_unit_gives_nothing_more(
    pair: tuple[Database, UUID, UUID],
) -> None:
    """As SQL slipped into a unit of work would try: leave `authenticated` and read on. The
    login role has no privileges of its own, so every table and owner function refuses."""
    db, a, _ = pair
    async with await psycopg.AsyncConnection.connect(owner(db), autocommit=True) as conn:
        tables = [r[0] for r in await (await conn.execute(_every_app_table())).fetchall()]
    assert "messages" in tables and len(tables) > 15
    attempts = [f"SELECT 1 FROM app.{t} LIMIT 1" for t in tables]
    attempts += list(OWNER_FUNCTIONS.values())
    attempts += ["SELECT 1 FROM public.procrastinate_jobs LIMIT 1",
                 "SELECT 1 FROM public.bot_schema_migrations LIMIT 1"]
    for attempt in attempts:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with db.as_user(a) as conn:
                await conn.execute("RESET ROLE")
                await conn.execute(attempt)


# Functions the per-user role may call, each acting only on the caller's own rows: the
# SECURITY DEFINER ones filter by auth.uid() themselves, the others run with the caller's
# privileges, so RLS applies. llm_cost_since returns one total (the daily cost cap spans
# every user): the day's spend, no row of anyone (docs/security.md).
PER_USER_FUNCTIONS = {"delivery_status_rank": False, "forget_context": True,
                      "llm_cost_since": True, "open_session": False, "open_turn": False,
                      "studio_book": True}


async def test_the_per_user_role_calls_only_functions_on_its_own_rows(
    pair: tuple[Database, UUID, UUID],
) -> None:
    db, _, _ = pair
    async with await psycopg.AsyncConnection.connect(owner(db), autocommit=True) as conn:
        rows = await (await conn.execute(
            "SELECT p.proname, p.prosecdef, pg_get_functiondef(p.oid) AS body FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'app'"
            " AND has_function_privilege('authenticated', p.oid, 'EXECUTE')")).fetchall()
    assert {r[0]: r[1] for r in rows} == PER_USER_FUNCTIONS
    for name, definer, body in rows:
        if definer and name != "llm_cost_since":
            assert "auth.uid()" in body, f"{name} runs as the owner without checking the user"


# Readable by every acting user because they hold no one's data: the knowledge base, the
# studio's timetable and prices, and the WhatsApp template SIDs (the bot's own texts).
NOT_USER_DATA = {"kb_chunks", "studio_classes", "studio_class_availability",
                 "studio_opening_hours", "studio_plans", "whatsapp_content_templates"}


async def test_every_table_and_view_shows_a_person_only_their_own_rows(
    pair: tuple[Database, UUID, UUID],
) -> None:
    """Each table and view of the app, read as one person: another's rows are never seen
    (or the table is not readable at all); one without a contact column holds no one's
    data, or is not readable."""
    db, a, b = pair
    async with await psycopg.AsyncConnection.connect(owner(db), autocommit=True) as conn:
        rows = await (await conn.execute(
            "SELECT c.relname, EXISTS (SELECT 1 FROM information_schema.columns i"
            "  WHERE i.table_schema = 'app' AND i.table_name = c.relname"
            "  AND i.column_name = 'contact_id') FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'app' AND c.relkind IN ('r', 'v') ORDER BY 1")).fetchall()
        owned = {t: c for t, c in rows}
        owned["contacts"] = True
        for table, personal in owned.items():
            if personal and table not in ("llm_usage_by_session", "llm_usage_by_turn",
                                          "llm_usage_daily"):
                column = "id" if table == "contacts" else "contact_id"
                found = await (await conn.execute(
                    f"SELECT count(*) FROM app.{table} WHERE {column} = %s", (b,))).fetchone()
                assert found is not None and found[0] > 0, f"{table} holds no row of b"
    readable = []
    for table, personal in owned.items():
        try:
            async with db.as_user(a) as conn:
                if personal:
                    column = "id" if table == "contacts" else "contact_id"
                    cur = await conn.execute(
                        f"SELECT count(*) AS n FROM app.{table} WHERE {column} <> %s", (a,))
                    row = await cur.fetchone()
                    assert row is not None and row["n"] == 0, f"{table} shows another's rows"
                else:
                    await conn.execute(f"SELECT 1 FROM app.{table} LIMIT 1")
            readable.append(table)
        except psycopg.errors.InsufficientPrivilege:
            continue
    assert {t for t in readable if not owned[t]} == NOT_USER_DATA
    assert "messages" in readable and "audit_log" not in readable
