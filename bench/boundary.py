"""What the trust boundary costs per data source connection: the URL check (parse, allow-list,
resolve, policy) and the identity read after connecting, beside the connection itself.

    .venv/bin/python bench/boundary.py [--n 300]

Runs against the local PostgreSQL (BENCH_PG) with a scratch database, rounds interleaved so
both sides see the same machine. Prints medians and p90 in milliseconds.
"""

import argparse
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("QUERENT_DEBUG", "1")
os.environ.setdefault("QUERENT_DATA_SOURCE_ALLOWED_HOSTS", "*,127.0.0.1")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402

from bench._stack import PG, percentile, progress  # noqa: E402
from executor import boundary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    name = f"querent_bench_boundary_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG}/{name}"
    try:
        timings = {"url check": [], "connect": [], "identity read": []}
        for i in range(args.n):
            progress(f"connection {i + 1}/{args.n}")
            started = time.perf_counter()
            kwargs = boundary.postgres_connect_kwargs(url)
            checked = time.perf_counter()
            conn = psycopg.connect(**kwargs, autocommit=True)
            connected = time.perf_counter()
            boundary.check_not_querent_postgres(conn)
            verified = time.perf_counter()
            conn.close()
            timings["url check"].append((checked - started) * 1000)
            timings["connect"].append((connected - checked) * 1000)
            timings["identity read"].append((verified - connected) * 1000)
        progress("")
        print(f"{args.n} connections to a local PostgreSQL {psycopg.pq.version()} (libpq), ms per connection:")
        for label, values in timings.items():
            print(f"  {label:<14} p50 {statistics.median(values):6.3f}   p90 {percentile(values, 90):6.3f}")
        added = [a + b for a, b in zip(timings["url check"], timings["identity read"])]
        share = statistics.median(added) / statistics.median(timings["connect"]) * 100
        print(f"  boundary adds  p50 {statistics.median(added):6.3f} ms ({share:.0f}% of the connection itself)")
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
