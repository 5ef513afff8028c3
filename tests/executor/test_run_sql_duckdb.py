"""DuckDB data sources, a database file and a folder of files: reads, approved writes, and every way
out of the database (files, URLs, other databases, extensions, settings) refused with the data
source unchanged and no file touched, whether the guard or DuckDB itself says no."""

import hashlib
from pathlib import Path

import duckdb
import pytest

from executor.connections import open_read
from executor.models import DataSource
from executor.schema import introspect
from executor.services import NeedsConfirmation, SqlError, run_sql
from executor.sql_guard import READ, Statement
from tests.support.sources import shop_duckdb

from .helpers import Approval

OUTSIDE = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/hostname')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    "SELECT * FROM read_json_auto('http://169.254.169.254/latest/meta-data')",
    "COPY sales TO '{canary}/copy.csv'",
    "COPY (SELECT 1) TO '{canary}/copy2.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{canary}/export'",
    "ATTACH '{canary}/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
    "SET lock_configuration = false",
    "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')",
    "SELECT getenv('HOME')",
]


@pytest.fixture
def data_dir(settings, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    settings.SQLITE_DATA_SOURCE_DIRS = [str(root)]
    return root


@pytest.fixture
def duck_file(data_dir):
    path = data_dir / "shop.duckdb"
    shop_duckdb(path)
    return path


def source(path: Path, **fields) -> DataSource:
    return DataSource(name="Shop", engine="duckdb", connection_url=f"duckdb:///{path}", **fields)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reads_return_rows(duck_file):
    result = run_sql(source(duck_file), "SELECT r.name, count(*) AS n, sum(s.amount) AS total FROM sales s "
                                        "JOIN region r ON r.id = s.region_id GROUP BY 1 ORDER BY 1")
    assert result.columns == ["name", "n", "total"]
    assert result.rows == [{"name": "North", "n": 50, "total": 3825.0}, {"name": "South", "n": 50, "total": 3750.0}]
    assert run_sql(source(duck_file), "FROM region ORDER BY id").rows[0] == {"id": 1, "name": "North"}
    assert run_sql(source(duck_file, row_limit=7), "SELECT * FROM sales").truncated


@pytest.mark.parametrize("template", OUTSIDE)
def test_every_way_out_is_refused_and_nothing_is_touched(duck_file, tmp_path, template):
    canary = tmp_path / "canary"
    canary.mkdir()
    sql = template.format(canary=canary)
    data_source = source(duck_file)
    before = digest(duck_file)
    with pytest.raises(NeedsConfirmation):  # the guard: never without an approval
        run_sql(data_source, sql)
    with pytest.raises(SqlError):  # approved, DuckDB itself refuses
        run_sql(data_source, sql, approval=Approval(sql))
    forced = (Statement(sql, READ, "forced past the guard", True),)
    with pytest.raises((SqlError, NeedsConfirmation)):  # the read connection refuses too
        with open_read(data_source, sql, forced) as (_, rows):
            list(rows)
    assert list(canary.iterdir()) == []
    assert digest(duck_file) == before
    assert run_sql(data_source, "SELECT count(*) AS n FROM sales").rows == [{"n": 100}]


@pytest.mark.parametrize("sql", ["PRAGMA enable_profiling", "CALL pragma_version()", "CHECKPOINT", "USE memory"])
def test_statements_that_change_the_session_need_an_approval(duck_file, sql):
    with pytest.raises(NeedsConfirmation):
        run_sql(source(duck_file), sql)


def test_writes_need_an_approval_and_then_run_once(duck_file):
    data_source = source(duck_file)
    sql = "INSERT INTO region VALUES (3, 'East')"
    with pytest.raises(NeedsConfirmation):
        run_sql(data_source, sql)
    forced = (Statement(sql, READ, "forced", False),)
    with pytest.raises(NeedsConfirmation, match="read-only"):  # opened read_only for reads
        with open_read(data_source, sql, forced) as (_, rows):
            list(rows)
    assert run_sql(data_source, sql, approval=Approval(sql)).rows == [{"rows_affected": 1}]
    assert run_sql(data_source, "SELECT count(*) AS n FROM region").rows == [{"n": 3}]
    failing = "INSERT INTO region VALUES (4, 'West'); INSERT INTO region VALUES (1, 'duplicate')"
    with pytest.raises(SqlError):
        run_sql(data_source, failing, approval=Approval(failing))
    assert run_sql(data_source, "SELECT count(*) AS n FROM region").rows == [{"n": 3}]


def test_a_slow_query_stops_at_the_time_limit(duck_file):
    with pytest.raises(SqlError, match="timed out after 1s"):
        run_sql(source(duck_file, statement_timeout_s=1), "SELECT count(*) FROM range(100000000000) a, range(10) b")


def test_introspection(duck_file):
    schema = introspect(source(duck_file))
    tables = {t["name"]: t for t in schema["tables"]}
    assert set(tables) == {"region", "sales"}
    assert tables["sales"]["primary_key"] == ["id"]
    assert tables["sales"]["foreign_keys"][0]["ref_table"] == "region"
    assert tables["region"]["columns"][1]["samples"] == ["North", "South"]


@pytest.fixture
def folder(data_dir):
    folder = data_dir / "exports"
    folder.mkdir()
    (folder / "orders.csv").write_text("id,customer,total\n1,Ann,10.5\n2,Bob,7\n3,Ann,3.25\n")
    (folder / "people.tsv").write_text("name\tcity\nAnn\tOslo\nBob\tRome\n")
    (folder / "events.jsonl").write_text('{"kind": "view", "n": 3}\n{"kind": "buy", "n": 1}\n')
    conn = duckdb.connect()
    conn.execute(f"COPY (SELECT range AS id, range * 2 AS twice FROM range(5)) TO '{folder / 'numbers.parquet'}' (FORMAT parquet)")
    conn.close()
    (data_dir / "secret.csv").write_text("password\nhunter2\n")  # beside the folder, not in it
    return folder


def test_a_folder_of_files_is_a_set_of_tables(folder):
    data_source = source(folder)
    assert run_sql(data_source, "SELECT customer, sum(total) AS spent FROM orders GROUP BY 1 ORDER BY 1").rows == [
        {"customer": "Ann", "spent": 13.75}, {"customer": "Bob", "spent": 7.0}]
    assert run_sql(data_source, "SELECT city FROM people WHERE name = 'Bob'").rows == [{"city": "Rome"}]
    assert run_sql(data_source, "SELECT sum(n) AS n FROM events").rows == [{"n": 4}]
    assert run_sql(data_source, "SELECT sum(twice) AS s FROM numbers").rows == [{"s": 20}]
    names = {t["name"] for t in introspect(data_source)["tables"]}
    assert names == {"orders", "people", "events", "numbers"}


def test_a_folder_reaches_only_its_own_files_and_is_never_written(folder):
    data_source = source(folder)
    secret = str(folder.parent / "secret.csv")
    for sql in (f"SELECT * FROM read_csv('{secret}')", f"SELECT * FROM '{secret}'",
                f"SELECT * FROM read_csv('{folder}/../secret.csv')"):
        forced = (Statement(sql, READ, "forced", True),)
        with pytest.raises(SqlError):
            with open_read(data_source, sql, forced) as (_, rows):
                list(rows)
    before = {f.name: digest(f) for f in folder.iterdir()}
    sql = f"COPY orders TO '{folder}/orders.csv'"
    with pytest.raises(SqlError, match="only reads"):
        run_sql(data_source, sql, approval=Approval(sql))
    assert {f.name: digest(f) for f in folder.iterdir()} == before
