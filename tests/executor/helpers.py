"""Shared helpers for executor tests: approvals, unsaved data sources, direct queries, snapshots."""

import hashlib
import os
import sqlite3
from dataclasses import dataclass

import psycopg

from executor.models import DataSource
from executor.values import json_safe, unique_columns

from .sql_corpus import CANARIES


@dataclass
class Approval:
    """What the engine passes: approves exactly one SQL text."""

    sql: str

    def approves(self, sql: str) -> bool:
        return sql == self.sql


def source(url: str, **fields) -> DataSource:
    """An unsaved DataSource: run_sql needs no database row."""
    from executor.dsn import engine_from_url

    engine = engine_from_url(url) or "sqlite"
    fields.setdefault("actions", ["issue_credit"])
    return DataSource(name=fields.pop("name", "Chinook test"), engine=engine, connection_url=url, **fields)


def direct_pg(url: str, sql: str) -> tuple[list[str], list[dict]]:
    """The last result of `sql`, read straight through psycopg, JSON-safe like run_sql's."""
    with psycopg.connect(url, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute(sql)
        columns, rows = [], []
        while True:
            if cur.description is not None:
                columns = unique_columns([d.name for d in cur.description])
                rows = [dict(zip(columns, map(json_safe, row))) for row in cur.fetchall()]
            if not cur.nextset():
                break
        conn.rollback()
    return columns, rows


def direct_sqlite(url: str, sql: str) -> tuple[list[str], list[dict]]:
    from executor.connections import sqlite_statements

    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        columns, rows = [], []
        for part in sqlite_statements(sql):
            cur = conn.execute(part)
            if cur.description is not None:
                columns = unique_columns([d[0] for d in cur.description])
                rows = [dict(zip(columns, map(json_safe, row))) for row in cur.fetchall()]
        return columns, rows
    finally:
        conn.close()


_PG_SNAPSHOT_QUERIES = [
    "SELECT n.nspname, c.relname, c.relkind, coalesce(c.relacl::text, ''), coalesce(obj_description(c.oid, 'pg_class'), '') "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2",
    "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
    "SELECT p.proname, pg_get_function_identity_arguments(p.oid) FROM pg_proc p "
    "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1, 2",
    "SELECT sequencename, last_value FROM pg_sequences ORDER BY 1",
    "SELECT count(*) FROM pg_largeobject_metadata",
    "SELECT rolname FROM pg_roles ORDER BY 1",
    "SELECT count(*) FROM pg_prepared_xacts",
]


def pg_snapshot(url: str) -> dict:
    """Everything a leaked write could change: row counts and contents digests, catalog, sequences."""
    snap = {}
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        for query in _PG_SNAPSHOT_QUERIES:
            cur.execute(query)
            snap[query] = cur.fetchall()
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        for (table,) in cur.fetchall():
            cur.execute(f'SELECT md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')), count(*) FROM "{table}" t')
            snap[table] = cur.fetchone()
    return snap


def sqlite_snapshot(url: str) -> str:
    """The file's bytes: a read-only open must leave them identical."""
    with open(url.removeprefix("sqlite:///"), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def remove_canaries() -> None:
    for path in CANARIES:
        if os.path.exists(path):
            os.remove(path)


def canaries_present() -> list[str]:
    return [path for path in CANARIES if os.path.exists(path)]
