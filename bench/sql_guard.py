"""SQL guard benchmark: classification throughput and read latency on the Chinook demo.

    .venv/bin/python bench/sql_guard.py [--pg-url postgresql://...] [--sqlite] [--iterations N] [--reads N]

Classification runs over the test corpus (reads and disguised writes, both dialects) many times.
Reads go through `run_sql` end to end (guard, connection, read-only transaction, JSON-safe rows)
against PostgreSQL when --pg-url is given or a server answers at 127.0.0.1:5432 (in a database of
its own, created and dropped here), else against an SQLite demo file. Numbers on stdout, progress
on stderr.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("QUERENT_SECRET_KEY", "bench-only-secret")
os.environ.setdefault("QUERENT_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from psycopg import sql as pgsql  # noqa: E402

from executor.demo import load_demo  # noqa: E402
from executor.models import DataSource  # noqa: E402
from executor.schema import introspect, render_summary  # noqa: E402
from executor.services import classify, run_sql  # noqa: E402
from tests.executor.sql_corpus import PG_READS, PG_WRITES, SQLITE_READS, SQLITE_WRITES  # noqa: E402

REPRESENTATIVE_READS = {
    "point lookup": "SELECT name, composer FROM track WHERE id = 1234",
    "join + group (top customers)": (
        "SELECT c.first_name, c.last_name, sum(i.total) AS spent FROM invoice i JOIN customer c ON c.id = i.customer_id "
        "GROUP BY c.id, c.first_name, c.last_name ORDER BY spent DESC LIMIT 10"
    ),
    "revenue by genre (4 joins)": (
        "SELECT g.name, sum(il.unit_price * il.quantity) AS revenue FROM invoice_line il JOIN track t ON t.id = il.track_id "
        "JOIN genre g ON g.id = t.genre_id GROUP BY g.name ORDER BY revenue DESC"
    ),
    "3503 rows (full track table)": "SELECT * FROM track",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def bench_classification(iterations: int) -> None:
    corpora = [("postgresql", [c.sql for c in PG_READS + PG_WRITES]), ("sqlite", [c.sql for c in SQLITE_READS + SQLITE_WRITES])]
    print("== classification (sqlglot, uncached) ==")
    for dialect, statements in corpora:
        log(f"classifying {len(statements)} {dialect} statements x {iterations} ...")
        for sql in statements:  # warm-up: dialect and parser construction
            classify(sql, dialect=dialect, actions=["issue_credit"])
        timings = []
        started = time.perf_counter()
        for _ in range(iterations):
            for sql in statements:
                t0 = time.perf_counter()
                classify(sql, dialect=dialect, actions=["issue_credit"])
                timings.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        count = len(timings)
        print(
            f"{dialect:<10} {count} classifications in {elapsed:.2f}s: {count / elapsed:,.0f} statements/s, "
            f"p50 {percentile(timings, 0.5) * 1e6:.0f} us, p95 {percentile(timings, 0.95) * 1e6:.0f} us, "
            f"max {max(timings) * 1e3:.1f} ms"
        )


def pg_reachable(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
        return True
    except psycopg.Error:
        return False


def bench_reads(data_source: DataSource, repeats: int) -> None:
    print(f"== reads via run_sql on {data_source.engine} (connection per call, read-only transaction) ==")
    for label, sql in REPRESENTATIVE_READS.items():
        log(f"reading '{label}' x {repeats} ...")
        run_sql(data_source, sql)  # warm the server's caches
        timings = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = run_sql(data_source, sql)
            timings.append(time.perf_counter() - t0)
        print(
            f"{label:<30} rows {result.rowcount:>5}  p50 {percentile(timings, 0.5) * 1e3:6.2f} ms  "
            f"p95 {percentile(timings, 0.95) * 1e3:6.2f} ms  mean {statistics.fmean(timings) * 1e3:6.2f} ms"
        )
    log("introspecting + summarising the schema ...")
    t0 = time.perf_counter()
    schema = introspect(data_source)
    t1 = time.perf_counter()
    text = render_summary(schema, 6000)
    t2 = time.perf_counter()
    print(f"{'schema introspection':<30} {len(schema['tables'])} tables in {(t1 - t0) * 1e3:.1f} ms; "
          f"summary {len(text)} chars in {(t2 - t1) * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", help="server URL (any database on it); the bench creates its own database")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite even if PostgreSQL is reachable")
    parser.add_argument("--iterations", type=int, default=30, help="passes over the classification corpus")
    parser.add_argument("--reads", type=int, default=200, help="repetitions per representative read")
    args = parser.parse_args()

    bench_classification(args.iterations)

    server = args.pg_url or "postgresql://postgres@127.0.0.1:5432/postgres"
    use_pg = not args.sqlite and pg_reachable(server)
    if use_pg:
        name = f"querent_bench_{uuid.uuid4().hex[:8]}"
        admin = psycopg.conninfo.make_conninfo(server.replace("postgres://", "postgresql://", 1), dbname="postgres")
        target = server.rsplit("/", 1)[0] + f"/{name}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        try:
            log(f"loading the demo into database {name} ...")
            t0 = time.perf_counter()
            load_demo(target)
            print(f"== demo load: PostgreSQL {time.perf_counter() - t0:.2f}s ==")
            bench_reads(DataSource(name="bench", engine="postgresql", connection_url=target, actions=["issue_credit"]), args.reads)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/chinook.sqlite3"
            t0 = time.perf_counter()
            load_demo(url)
            print(f"== demo load: SQLite {time.perf_counter() - t0:.2f}s ==")
            bench_reads(DataSource(name="bench", engine="sqlite", connection_url=url, actions=["issue_credit"]), args.reads)


if __name__ == "__main__":
    main()
