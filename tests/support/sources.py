"""Data sources for end-to-end tests, written straight to the database (committed, so the live
processes see them), as an operator or a tenant admin would have made them."""

from executor.models import DataSource


def tenant_source(url: str, *, tenant: str, name: str = "Chinook demo", owner: str = "system",
                  tenant_wide: bool = True, actions=("issue_credit",)) -> DataSource:
    """A PostgreSQL (or SQLite, by the URL) source of `tenant`, usable by all its principals
    (tenant_wide), writable with approval: the confirmation flow needs a source that is not shared
    with every tenant."""
    from executor.dsn import engine_from_url

    engine = engine_from_url(url) or "postgresql"
    data_source = DataSource(name=name, engine=engine, connection_url=url, actions=list(actions), tenant_wide=tenant_wide)
    data_source.tenant, data_source.owner = tenant, owner
    data_source.save()
    return data_source


def query(url: str, sql: str) -> list[tuple]:
    """Rows of `sql` read straight from a demo copy, PostgreSQL, SQLite or MySQL (checks behind the API's back)."""
    if url.startswith("mysql:"):
        from urllib.parse import urlsplit

        import pymysql

        parts = urlsplit(url)
        with pymysql.connect(host=parts.hostname, port=parts.port, user=parts.username, password=parts.password,
                             database=parts.path.lstrip("/")) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(row) for row in cur.fetchall()]
    if url.startswith("sqlite:"):
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def shop_duckdb(path) -> None:
    """A small DuckDB database file at `path`: 2 regions, 100 sales (amount, date) between them."""
    import duckdb

    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE region (id INTEGER PRIMARY KEY, name VARCHAR)")
    conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, region_id INTEGER REFERENCES region(id), amount DECIMAL(10,2), sold_on DATE)")
    conn.execute("INSERT INTO region VALUES (1, 'North'), (2, 'South')")
    conn.execute("INSERT INTO sales SELECT i, 1 + i % 2, i * 1.5, DATE '2024-01-01' + i::INTEGER FROM range(1, 101) t(i)")
    conn.close()
