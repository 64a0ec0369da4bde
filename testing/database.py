"""Throwaway databases on a PostgreSQL server, for tests and benchmarks."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row


def create_database(server_url: str) -> str:
    """A new empty database on the server; returns its conninfo."""
    name = "bot_test_" + secrets.token_hex(4)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(server_url, dbname=name)


def drop_database(server_url: str, conninfo: str) -> None:
    """Drop a database made by `create_database`, closing its sessions."""
    name = conninfo_to_dict(conninfo)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def as_owner(conninfo: str) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
    """A connection as the migrating owner (DATABASE_URL), for what only the owner may do:
    the server's own login (bot_app) and its roles cannot change the schema."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        yield conn
