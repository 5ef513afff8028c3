"""CSV export benchmark: Querent's `generate_csv` path against `psql \\copy`, on 1,000,000 rows.

    .venv/bin/python bench/csv_export.py [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
                                          [--rows 1000000] [--repeat 3] [--python-path]

Creates a scratch database (dropped at the end) holding a table of --rows rows of mixed types,
then exports the same query, in turns:
  - through `responses.exports.result_or_csv`, exactly as a response with generate_csv=true does
    (guarded peek of 51 rows, then COPY inside the executor's read-only transaction, to a local file);
  - with `psql \\copy (query) TO file WITH (FORMAT csv, HEADER)`, the baseline;
  - with --python-path, also through the row-by-row path used for SQLite and multi-statement text.
Reports rows/s (median of --repeat runs), the ratio to psql, and this process's peak RSS growth
during an export (VmHWM after minus VmRSS before, with the high-water mark reset first).
Numbers on stdout, progress on stderr.
"""

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRATCH = Path(tempfile.mkdtemp(prefix="querent-csv-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("QUERENT_SECRET_KEY", "bench-only-secret")
os.environ.setdefault("QUERENT_LOG_LEVEL", "WARNING")
os.environ["QUERENT_VAR_DIR"] = str(SCRATCH)  # exports land here, and are removed with it
os.environ.pop("QUERENT_CSV_S3_BUCKET", None)  # local files: the comparison is with psql writing a file

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from psycopg import sql as pgsql  # noqa: E402

from executor.models import DataSource  # noqa: E402
from executor.services import read_stream  # noqa: E402
from responses.exports import Exported, result_or_csv, write_rows  # noqa: E402
from responses.storage import csv_writer  # noqa: E402

QUERY = "SELECT id, name, amount, created_at, flag FROM bench_rows ORDER BY id"


def progress(message: str) -> None:
    print(f"[csv-bench] {message}", file=sys.stderr, flush=True)


def with_db(url: str, dbname: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


def memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def create_table(url: str, rows: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE bench_rows AS
            SELECT g AS id,
                   'customer ' || g || ' of the bench' AS name,
                   round((g %% 100000) / 7.0, 2)::numeric(12, 2) AS amount,
                   timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS created_at,
                   g %% 3 = 0 AS flag
            FROM generate_series(1, %s) AS g
            """,
            (rows,),
        )
        conn.execute("ALTER TABLE bench_rows ADD PRIMARY KEY (id)")
        conn.execute("VACUUM ANALYZE bench_rows")


def run_psql(url: str, target: Path) -> float:
    command = f"\\copy ({QUERY}) TO '{target}' WITH (FORMAT csv, HEADER)"
    started = time.perf_counter()
    subprocess.run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command], check=True)
    return time.perf_counter() - started


def run_querent(data_source: DataSource) -> tuple[float, int, Path, int]:
    """(seconds, rows, file, peak RSS growth in KB) of one export through the generate_csv path."""
    before = memory_kb("VmRSS")
    reset_peak()
    started = time.perf_counter()
    outcome = result_or_csv(data_source, QUERY, name=f"bench-{uuid.uuid4().hex[:8]}")
    elapsed = time.perf_counter() - started
    growth = memory_kb("VmHWM") - before
    assert isinstance(outcome, Exported), "expected more than 50 rows"
    return elapsed, outcome.row_count, SCRATCH / outcome.location, growth


def run_python_path(data_source: DataSource) -> tuple[float, int, int]:
    before = memory_kb("VmRSS")
    reset_peak()
    started = time.perf_counter()
    with read_stream(data_source, QUERY) as (columns, rows), csv_writer(f"py-{uuid.uuid4().hex[:8]}") as sink:
        count = write_rows(sink, columns, rows)
    elapsed = time.perf_counter() - started
    Path(SCRATCH / sink.location).unlink()
    return elapsed, count, memory_kb("VmHWM") - before


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default=os.environ.get("QUERENT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python-path", action="store_true", help="also time the row-by-row export path")
    args = parser.parse_args()

    dbname = f"querent_csv_bench_{os.getpid()}"
    admin = psycopg.connect(args.pg_url, autocommit=True)
    admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}").format(pgsql.Identifier(dbname)))
    admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(dbname)))
    url = with_db(args.pg_url, dbname)
    try:
        progress(f"creating {args.rows:,} rows in scratch database {dbname}")
        started = time.perf_counter()
        create_table(url, args.rows)
        progress(f"table ready in {time.perf_counter() - started:.1f}s")
        data_source = DataSource(name="bench", engine="postgresql", connection_url=url, statement_timeout_s=600)

        psql_times, querent_times, growths, identical = [], [], [], True
        for attempt in range(1, args.repeat + 1):
            baseline = SCRATCH / f"psql-{attempt}.csv"
            psql_times.append(run_psql(url, baseline))
            progress(f"run {attempt}/{args.repeat}: psql \\copy {psql_times[-1]:.2f}s")
            elapsed, rows, exported, growth = run_querent(data_source)
            querent_times.append(elapsed)
            growths.append(growth)
            progress(f"run {attempt}/{args.repeat}: querent export {elapsed:.2f}s, {rows:,} rows, RSS +{growth / 1024:.1f} MB")
            assert rows == args.rows, f"exported {rows} rows, expected {args.rows}"
            identical = identical and digest(exported) == digest(baseline)
            exported.unlink()
            baseline.unlink()

        psql_s, querent_s = statistics.median(psql_times), statistics.median(querent_times)
        print(f"CSV export of {args.rows:,} rows ({QUERY}), median of {args.repeat} runs")
        print(f"  psql \\copy             {psql_s:7.2f} s   {args.rows / psql_s:>12,.0f} rows/s   "
              f"(peak RSS of psql {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f} MB)")
        print(f"  querent generate_csv   {querent_s:7.2f} s   {args.rows / querent_s:>12,.0f} rows/s   "
              f"(peak RSS growth {max(growths) / 1024:.1f} MB)")
        print(f"  ratio querent/psql     {psql_s / querent_s:7.2f}x   (target >= 0.5x)")
        print(f"  RSS growth             {max(growths) / 1024:7.1f} MB  (target < 100 MB)")
        print(f"  output identical to psql's: {'yes' if identical else 'no'}")
        if args.python_path:
            elapsed, rows, growth = run_python_path(data_source)
            progress(f"python row path {elapsed:.2f}s")
            print(f"  python row path        {elapsed:7.2f} s   {rows / elapsed:>12,.0f} rows/s   "
                  f"(peak RSS growth {growth / 1024:.1f} MB; used for SQLite and multi-statement text)")
    finally:
        admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(dbname)))
        admin.close()
        for leftover in sorted(SCRATCH.rglob("*"), reverse=True):
            leftover.unlink() if leftover.is_file() else leftover.rmdir()
        SCRATCH.rmdir()
        progress(f"dropped {dbname}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
