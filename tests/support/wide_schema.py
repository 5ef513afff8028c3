"""A wide schema (by default 1,000 tables of 20 columns) plus one table a question is about, for
PostgreSQL and SQLite: what the context store must cut down to a prompt budget. Used by the
context-store tests and bench/context_store.py."""

import sqlite3
from contextlib import closing

CARRIERS = ["DHL", "FedEx", "UPS", "USPS"]
RELEVANT = "shipment_tracking"


def _statements(tables: int, columns: int, rows: int) -> list[str]:
    out = []
    for t in range(tables):
        cols = ", ".join(f"c{c:02d}_{t} {'integer' if c % 3 == 0 else 'text'}" for c in range(columns - 1))
        out.append(f"CREATE TABLE t{t:04d}_ledger (id integer PRIMARY KEY, {cols})")
        if rows:
            values = ", ".join(
                "(" + ", ".join([str(r)] + [str(r * c) if c % 3 == 0 else f"'v{r % 7}'" for c in range(columns - 1)]) + ")"
                for r in range(1, rows + 1)
            )
            out.append(f"INSERT INTO t{t:04d}_ledger VALUES {values}")
    out.append(f"CREATE TABLE {RELEVANT} (id integer PRIMARY KEY, carrier text NOT NULL, shipped_on date, weight_kg integer)")
    values = ", ".join(f"({i}, '{CARRIERS[i % 4]}', '2024-01-{1 + i % 28:02d}', {i % 50})" for i in range(1, 201))
    out.append(f"INSERT INTO {RELEVANT} VALUES {values}")
    return out


def build_postgres(conn, tables: int = 1000, columns: int = 20, rows: int = 0) -> None:
    """In the database `conn` (autocommit) is connected to."""
    with conn.transaction():
        for statement in _statements(tables, columns, rows):
            conn.execute(statement)
    conn.execute("ANALYZE")


def build_sqlite(path, tables: int = 1000, columns: int = 20, rows: int = 0) -> str:
    with closing(sqlite3.connect(path)) as conn:
        for statement in _statements(tables, columns, rows):
            conn.execute(statement)
        conn.commit()
    return f"sqlite:///{path}"
