"""MySQL/MariaDB, DuckDB and uploaded files: what Querent's path costs against the bare engine.

    .venv/bin/python bench/data_sources.py [--rows 1000000] [--queries 200] [--skip-upload] [--skip-queries]

1. Upload: a CSV of --rows rows x 10 columns, generated in a scratch folder, is
   - loaded by DuckDB's own `CREATE TABLE ... AS SELECT * FROM read_csv(file)` into a new file
     (the baseline, in this process), then
   - POSTed to /api/v1/data-sources/uploads of a real web process (daphne, `config.web`, the
     embedded mode: SQLite app database in the scratch folder), the body streamed from disk.
   Prints rows/s of both and their ratio (target >= 0.5x), and the web process's peak RSS growth
   during the upload (VmHWM after, high-water mark reset before, minus VmRSS before; target < 200 MB).
2. Query overhead: `executor.services.run_sql` against the bare driver on the Chinook demo, in a
   MariaDB started for the run (Debian's mariadbd, a scratch data directory, a free port) and in a
   DuckDB file: p50 of a point lookup and of a 4-join aggregate, --queries runs each. The bare
   driver is timed twice: a connection per query (what run_sql does: no pooling, by design) and
   one connection kept open.
Numbers on stdout, progress on stderr. Everything made is removed at the end.
"""

import argparse
import csv
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCRATCH = Path(tempfile.mkdtemp(prefix="querent-sources-bench-"))
DATA = SCRATCH / "data"
DATA.mkdir()
ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings", "QUERENT_SECRET_KEY": "bench-only-secret", "QUERENT_LOG_LEVEL": "WARNING",
    "QUERENT_VAR_DIR": str(SCRATCH / "var"), "QUERENT_SQLITE_DATA_SOURCE_DIRS": str(DATA),
    "QUERENT_DATA_SOURCE_ALLOWED_HOSTS": "127.0.0.1", "QUERENT_UPLOAD_MAX_BYTES": str(4 * 1024**3),
}
for name in ("DATABASE_URL", "REDIS_URL"):  # embedded mode: nothing shared with other runs
    os.environ.pop(name, None)
os.environ.update(ENV)

import django  # noqa: E402

django.setup()

POINT = "SELECT * FROM customer WHERE id = {id}"
JOINS = """SELECT g.name AS genre, c.country, SUM(il.unit_price * il.quantity) AS revenue
FROM invoice_line il JOIN track t ON t.id = il.track_id JOIN genre g ON g.id = t.genre_id
JOIN invoice i ON i.id = il.invoice_id JOIN customer c ON c.id = i.customer_id
GROUP BY g.name, c.country ORDER BY revenue DESC LIMIT 20"""


def say(message: str) -> None:
    sys.stderr.write(f"\r\033[K{message}")
    sys.stderr.flush()


def p50(values) -> float:
    return statistics.median(values) * 1000


# --- 1. upload ---------------------------------------------------------------------------------


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "customer", "region", "product", "quantity", "price", "discount", "day", "paid", "note"])
        regions = ["North", "South", "East", "West"]
        for i in range(rows):
            writer.writerow([i, f"c{rng.randrange(50_000)}", regions[i % 4], f"P{i % 997}", rng.randrange(1, 20),
                             f"{rng.random() * 100:.2f}", f"{rng.random():.3f}", f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                             "true" if i % 3 else "false", f"note {i % 113}"])


def duckdb_baseline(path: Path) -> float:
    import duckdb

    target = SCRATCH / "baseline.duckdb"
    conn = duckdb.connect(str(target))
    started = time.perf_counter()
    conn.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}')")
    elapsed = time.perf_counter() - started
    conn.close()
    target.unlink()
    return elapsed


def rss(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def web_process():
    from tests.support.ports import closed_port

    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env={**os.environ}, check=True)
    from assistants.models import ApiKey

    _, token = ApiKey.issue(name="bench", tenant="bench", user_id="bench")
    port = closed_port()
    log = open(SCRATCH / "web.log", "ab")
    from config.web import argv

    proc = subprocess.Popen(argv("127.0.0.1", port), cwd=ROOT, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT)
    import httpx

    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ok", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, port, token


def bench_upload(rows: int) -> None:
    import httpx

    path = SCRATCH / "orders.csv"
    say(f"writing a {rows:,}-row CSV …")
    write_csv(path, rows)
    size = path.stat().st_size
    say("DuckDB read_csv …")
    baseline = min(duckdb_baseline(path) for _ in range(2))
    say("starting the web process …")
    proc, port, token = web_process()
    try:
        with open(f"/proc/{proc.pid}/clear_refs", "w") as refs:
            refs.write("5")  # reset the peak RSS to the current RSS
        before = rss(proc.pid, "VmRSS")
        say("uploading …")
        # As an event stream: its first event comes once the body is received and parsed, so the
        # peak of the two phases (HTTP in, DuckDB load) is read apart.
        received_peak, loaded, started, received_at = None, None, time.perf_counter(), None
        with path.open("rb") as fh, httpx.stream(
                "POST", f"http://127.0.0.1:{port}/api/v1/data-sources/uploads", files={"file": ("orders.csv", fh, "text/csv")},
                headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}, timeout=600) as response:
            assert response.status_code == 200, response.read()
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and received_peak is None:
                    received_peak, received_at = rss(proc.pid, "VmHWM"), time.perf_counter()
                    with open(f"/proc/{proc.pid}/clear_refs", "w") as refs:
                        refs.write("5")
                    mid = rss(proc.pid, "VmRSS")
                if line.startswith("data: ") and event in ("done", "error"):
                    assert event == "done", line
                    import json

                    loaded = json.loads(line[6:])["tables"][0]["rows"]
                    break
        elapsed = time.perf_counter() - started
        peak = rss(proc.pid, "VmHWM")
        assert loaded == rows, loaded
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    say("")
    from django.conf import settings

    print(f"upload of {rows:,} rows x 10 columns ({size / 1e6:.1f} MB CSV), DuckDB's load with memory_limit "
          f"{settings.UPLOAD_MEMORY_MB} MB and {settings.UPLOAD_THREADS} threads (QUERENT_UPLOAD_MEMORY_MB, QUERENT_UPLOAD_THREADS)")
    print(f"  DuckDB read_csv (baseline)     {baseline:7.2f} s  {rows / baseline:12,.0f} rows/s")
    print(f"  POST /data-sources/uploads     {elapsed:7.2f} s  {rows / elapsed:12,.0f} rows/s   ratio {baseline / elapsed:.2f}x (target >= 0.5x)")
    print(f"  web process peak RSS growth    {(max(peak, received_peak) - before) / 1e6:7.1f} MB (target < 200 MB): "
          f"receiving and parsing the body {(received_peak - before) / 1e6:.1f} MB in {received_at - started:.1f} s, "
          f"then DuckDB's load {(peak - mid) / 1e6:+.1f} MB over the RSS it started from")


# --- 2. query overhead ----------------------------------------------------------------------


def time_each(run, count: int, make_sql) -> list[float]:
    times = []
    for i in range(count):
        sql = make_sql(i)
        started = time.perf_counter()
        run(sql)
        times.append(time.perf_counter() - started)
    return times


def bench_mariadb(count: int) -> None:
    import pymysql

    from executor.demo import load_demo
    from executor.models import DataSource
    from executor.services import run_sql
    from tests.fixtures.mariadb import MariaDB, _binary

    if not _binary("mariadbd"):
        print("MariaDB: skipped (mariadbd not installed: apt-get install mariadb-server)")
        return
    server = MariaDB(SCRATCH / "mariadb")
    server.base.mkdir()
    say("starting MariaDB …")
    server.start()
    try:
        name = server.create_database("chinook")
        url = server.url(name)
        say("loading Chinook into MariaDB …")
        load_demo(url)
        source = DataSource(name="bench", engine="mysql", connection_url=url)
        from tests.fixtures.mariadb import PASSWORD, USER

        def bare_connect(sql):
            conn = pymysql.connect(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD, database=name, ssl_disabled=True)
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    cur.fetchall()
            finally:
                conn.close()

        def bare_kept():
            kept = pymysql.connect(host="127.0.0.1", port=server.port, user=USER, password=PASSWORD, database=name, ssl_disabled=True)

            def run(sql):
                with kept.cursor() as cur:
                    cur.execute(sql)
                    cur.fetchall()
            return run

        report("MariaDB", count, lambda sql: run_sql(source, sql), bare_connect, bare_kept)
    finally:
        server.stop()


def bench_duckdb(count: int) -> None:
    import duckdb
    import pandas  # noqa: F401 - DuckDB reads the frames below by name

    from executor.demo import TABLES, demo_data
    from executor.models import DataSource
    from executor.services import run_sql

    path = DATA / "chinook.duckdb"
    say("building Chinook in DuckDB …")
    conn = duckdb.connect(str(path))
    data = demo_data()
    for table, *_ in TABLES:
        frame = pandas.DataFrame(data[table]["rows"], columns=data[table]["columns"])  # noqa: F841
        conn.execute(f"CREATE TABLE {table} AS SELECT * FROM frame")
    conn.close()
    source = DataSource(name="bench", engine="duckdb", connection_url=f"duckdb:///{path}")

    def bare_connect(sql):
        c = duckdb.connect(str(path), read_only=True)
        try:
            c.execute(sql).fetchall()
        finally:
            c.close()

    def bare_kept():
        kept = duckdb.connect(str(path), read_only=True)
        return lambda sql: kept.execute(sql).fetchall()

    report("DuckDB", count, lambda sql: run_sql(source, sql), bare_connect, bare_kept)


def report(engine: str, count: int, querent, bare_connect, bare_kept) -> None:
    """The kept connection is measured last: an open DuckDB connection would keep the database
    instance alive in this process, and run_sql (which opens its own each time) would reuse it."""
    point = lambda i: POINT.format(id=1 + i % 59)  # noqa: E731
    joins = lambda i: JOINS  # noqa: E731
    rows = []
    for label, make in (("point lookup", point), ("4-join aggregate", joins)):
        say(f"{engine}: {label} …")
        querent(make(0)), bare_connect(make(0))  # warm the server's and the OS's caches
        rows.append((label, p50(time_each(querent, count, make)), p50(time_each(bare_connect, count, make))))
    kept = bare_kept()
    print(f"{engine}: p50 over {count} queries (ms)")
    for (label, q, c), make in zip(rows, (point, joins)):
        kept(make(0))
        k = p50(time_each(kept, count, make))
        say("")
        print(f"  {label:18} run_sql {q:7.2f}   bare, connect per query {c:7.2f} (overhead {q - c:+6.2f})"
              f"   bare, kept connection {k:7.2f} (overhead {q - k:+6.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    args = parser.parse_args()
    try:
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        if not args.skip_upload:
            bench_upload(args.rows)
        if not args.skip_queries:
            bench_mariadb(args.queries)
            bench_duckdb(args.queries)
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    main()
