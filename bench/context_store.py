"""Context store benchmark: the schema scan, prompt building and golden SQL retrieval at size.

    .venv/bin/python bench/context_store.py [--tables 1000] [--columns 20] [--rows 20] [--golden 10000] [--iterations 300]

Needs PostgreSQL at DATABASE_URL (or 127.0.0.1:5432): it makes a scratch data source database with
the wide schema (tests/support/wide_schema.py) and a scratch app database (Django's test database
machinery, migrated), and drops both. Prints:
  - sync-schemas of the whole source (the worker's scan, in this process): seconds and RSS;
  - prompt building (context_for: instructions, 3 most similar golden SQLs, relevant tables within
    the budget) p50/p95 per question once the per-process index is built, and the build itself;
  - golden SQL retrieval alone (BM25 top 3 over every entry) p50/p95.
Targets: prompt p50 <= 20 ms, retrieval p50 <= 5 ms.
"""

import argparse
import os
import random
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("QUERENT_SECRET_KEY", "bench-only-secret")
os.environ.setdefault("QUERENT_LOG_LEVEL", "WARNING")
os.environ.setdefault("QUERENT_DATA_SOURCE_ALLOWED_HOSTS", "*,127.0.0.1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/querent_bench_context")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from psycopg import sql as pgsql  # noqa: E402

WORDS = "customer invoice album track artist genre carrier parcel revenue order refund month year country city price".split()


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--golden", type=int, default=10_000)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()

    from tests.fixtures.demo_db import pg_url
    from tests.support.wide_schema import build_postgres

    source_db = f"querent_bench_wide_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(pg_url("postgres"), autocommit=True)
    admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(source_db)))
    old_name = connection.settings_dict["NAME"]
    try:
        started = time.perf_counter()
        with psycopg.connect(pg_url(source_db), autocommit=True) as conn:
            build_postgres(conn, tables=args.tables - 1, columns=args.columns, rows=args.rows)
        print(f"source: {args.tables} tables x {args.columns} columns, {args.rows} rows each, built in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        connection.creation.create_test_db(verbosity=0, autoclobber=True)
        run(args, pg_url(source_db))
    finally:
        if connection.settings_dict["NAME"] != old_name:
            connection.creation.destroy_test_db(old_name, verbosity=0)
        admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(source_db)))
        admin.close()


def run(args, source_url: str) -> None:
    from config.identity import Principal
    from executor.context import index as context_index
    from executor.context import services
    from executor.context.index import context_for, index_for
    from executor.context.models import TableDescription
    from executor.context.retrieval import words
    from executor.context.scan import scan
    from executor.models import DataSource

    owner = Principal("bench", "owner", is_tenant_admin=True)
    source = DataSource(name="wide", engine="postgresql", connection_url=source_url)
    source.assign_owner(owner)
    source.save()

    # --- sync-schemas ----------------------------------------------------------------------
    before_rss, before_peak = rss_mb(), peak_mb()
    started = time.perf_counter()
    state = scan(source)
    seconds = time.perf_counter() - started
    scanned = TableDescription.objects.filter(data_source=source, status="SYNCHRONIZED").count()
    print(f"sync-schemas: {args.tables} tables x {args.columns} columns: {seconds:.2f} s "
          f"({seconds / max(1, scanned) * 1000:.2f} ms/table), status {state.scan_status}, {scanned} tables scanned; "
          f"RSS {before_rss:.0f} -> {rss_mb():.0f} MB, peak {max(before_peak, peak_mb()):.0f} MB (+{max(0.0, peak_mb() - before_peak):.0f} MB)")

    # --- golden SQLs ------------------------------------------------------------------------
    rng = random.Random(7)
    entries = []
    for n in range(args.golden):
        table = f"t{rng.randrange(args.tables - 1):04d}_ledger"
        question = " ".join(rng.sample(WORDS, 4)) + f" in ledger {n}"
        entries.append({"data_source": source, "prompt_text": question, "sql": f"SELECT count(*) FROM {table} WHERE id > {n}"})
    started = time.perf_counter()
    for start in range(0, len(entries), 1000):
        services.golden_sqls_add(owner, entries[start:start + 1000])
    print(f"golden SQLs stored: {args.golden} in {time.perf_counter() - started:.2f} s (each checked by the SQL guard)")
    services.instruction_create(owner, source, instruction="Amounts are in euros.")

    questions = [" ".join(rng.sample(WORDS, 3)) + " per carrier shipment" for _ in range(args.iterations)]
    context_index._indexes.clear()
    started = time.perf_counter()
    built = index_for(source)
    print(f"index build (once per process per context version): {(time.perf_counter() - started) * 1000:.0f} ms, "
          f"{len(built.golden)} golden SQLs, {len(built.tables.tables)} tables, RSS {rss_mb():.0f} MB")

    timings, sizes = [], []
    for question in questions:
        started = time.perf_counter()
        context = context_for(source, question, owner)
        timings.append((time.perf_counter() - started) * 1000)
        sizes.append(len(context.schema) + len(context.text()))
    print(f"prompt building ({args.tables} tables, {args.golden} golden SQLs, budget 6000 chars): "
          f"p50 {statistics.median(timings):.2f} ms, p95 {pct(timings, 0.95):.2f} ms "
          f"(target p50 <= 20 ms); prompt context {statistics.median(sizes):.0f} chars")

    allowed = built.allowed(owner, source)
    timings = []
    for question in questions:
        started = time.perf_counter()
        found = built.examples(question, allowed, 3)
        timings.append((time.perf_counter() - started) * 1000)
    assert found, "retrieval found nothing"
    print(f"golden SQL retrieval (BM25 top 3 of {args.golden}): p50 {statistics.median(timings):.3f} ms, "
          f"p95 {pct(timings, 0.95):.3f} ms (target p50 <= 5 ms); {len(words(questions[-1]))} query words")


if __name__ == "__main__":
    main()
