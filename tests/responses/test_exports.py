"""`generate_csv`: up to 50 rows inline, more streamed to a CSV, through the read-only guard."""

import csv
import io

import psycopg
import pytest

from executor.services import NeedsConfirmation, SqlError
from responses.exports import Exported, Inline, result_or_csv

pytestmark = pytest.mark.django_db


def csv_rows(exports_dir, outcome: Exported) -> list[list[str]]:
    path = exports_dir.parent / outcome.location
    return list(csv.reader(io.StringIO(path.read_text())))


@pytest.mark.parametrize("source", ["pg_source", "sqlite_source"])
def test_fifty_rows_stay_inline(request, exports_dir, source):
    data_source = request.getfixturevalue(source)
    outcome = result_or_csv(data_source, "SELECT id, name FROM artist ORDER BY id LIMIT 50", name="r50")
    assert isinstance(outcome, Inline)
    assert outcome.columns == ["id", "name"] and len(outcome.rows) == 50
    assert outcome.rows[0] == {"id": 1, "name": "AC/DC"}
    assert not exports_dir.exists() or not list(exports_dir.iterdir())


@pytest.mark.parametrize("source", ["pg_source", "sqlite_source"])
def test_fifty_one_rows_go_to_csv(request, exports_dir, source, demo_pg_url):
    data_source = request.getfixturevalue(source)
    outcome = result_or_csv(data_source, "SELECT id, name FROM artist ORDER BY id LIMIT 51", name=f"r51-{source}")
    assert isinstance(outcome, Exported)
    assert outcome.row_count == 51 and len(outcome.preview) == 50
    rows = csv_rows(exports_dir, outcome)
    with psycopg.connect(demo_pg_url) as conn:
        expected = conn.execute("SELECT id, name FROM artist ORDER BY id LIMIT 51").fetchall()
    assert rows[0] == ["id", "name"]
    assert rows[1:] == [[str(i), name] for i, name in expected]


def test_postgres_export_is_the_servers_csv(pg_source, exports_dir):
    sql = "SELECT g AS n, g % 2 = 0 AS even, 'a,\"b\"' AS quoted, NULL::int AS nothing FROM generate_series(1, 60) g"
    outcome = result_or_csv(pg_source, sql, name="typed")
    rows = csv_rows(exports_dir, outcome)
    assert rows[0] == ["n", "even", "quoted", "nothing"]
    assert rows[2] == ["2", "t", 'a,"b"', ""]  # PostgreSQL's own text forms, as psql \copy writes them
    assert outcome.preview[1] == {"n": 2, "even": True, "quoted": 'a,"b"', "nothing": None}


def test_sqlite_export_writes_json_safe_values(sqlite_source, exports_dir):
    sql = (
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 60) "
        "SELECT n, n % 2 = 0 AS even, NULL AS empty, 'a,b' AS pair FROM s"
    )
    outcome = result_or_csv(sqlite_source, sql, name="sqlite-typed")
    rows = csv_rows(exports_dir, outcome)
    assert len(rows) == 61 and rows[0] == ["n", "even", "empty", "pair"] and rows[2] == ["2", "1", "", "a,b"]


def test_trailing_comment_percent_and_semicolon(pg_source, exports_dir):
    sql = "SELECT g, '100%' AS pct FROM generate_series(1, 70) g -- seventy rows;"
    outcome = result_or_csv(pg_source, sql, name="comment")
    assert outcome.row_count == 70
    assert csv_rows(exports_dir, outcome)[70] == ["70", "100%"]


def test_several_statements_stream_through_python(pg_source, exports_dir):
    outcome = result_or_csv(pg_source, "SELECT 1; SELECT g FROM generate_series(1, 55) g", name="multi")
    assert outcome.row_count == 55 and csv_rows(exports_dir, outcome)[-1] == ["55"]


def test_writes_are_refused_before_anything_runs(pg_source, exports_dir, demo_pg_url):
    with psycopg.connect(demo_pg_url) as conn:
        before = conn.execute("SELECT (SELECT count(*) FROM invoice_line), (SELECT count(*) FROM credit)").fetchone()
    with pytest.raises(NeedsConfirmation):
        result_or_csv(pg_source, "DELETE FROM invoice_line RETURNING *", name="w1")
    with pytest.raises(NeedsConfirmation):
        result_or_csv(pg_source, "SELECT issue_credit(5, 20.0) FROM generate_series(1, 60)", name="w2")
    with psycopg.connect(demo_pg_url) as conn:
        assert conn.execute("SELECT (SELECT count(*) FROM invoice_line), (SELECT count(*) FROM credit)").fetchone() == before
    assert not exports_dir.exists() or not list(exports_dir.iterdir())


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1) TO STDOUT; DROP TABLE artist; COPY (SELECT 1",
        "SELECT g FROM generate_series(1, 60) g) TO '/tmp/querent-escape.csv' WITH (FORMAT csv) --",
        "SELECT g FROM generate_series(1, 60) g /*",
    ],
)
def test_text_that_would_escape_the_copy_wrapper_never_runs(pg_source, exports_dir, demo_pg_url, sql):
    with pytest.raises((SqlError, NeedsConfirmation)):
        result_or_csv(pg_source, sql, name="escape")
    with psycopg.connect(demo_pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM artist").fetchone()[0] == 275


def test_database_errors_are_sql_errors(pg_source, exports_dir):
    with pytest.raises(SqlError, match="no_such_column"):
        result_or_csv(pg_source, "SELECT no_such_column FROM artist", name="bad")


def test_export_that_runs_past_the_time_limit_fails_and_leaves_no_file(db, alice, demo_pg_url, exports_dir):
    from .conftest import make_source

    slow = make_source(alice, demo_pg_url, name="slow")
    slow.statement_timeout_s = 1
    slow.save()
    # The first rows come at once (the peek), the last one only after 3 s: COPY hits the limit mid-stream.
    sql = "SELECT g, CASE WHEN g = 2000 THEN pg_sleep(3) END AS pause FROM generate_series(1, 2000) g"
    with pytest.raises(SqlError, match="timed out"):
        result_or_csv(slow, sql, name="slow")
    assert not list(exports_dir.iterdir())


def test_copy_out_raises_psycopgs_own_errors(demo_pg_url):
    from responses.exports import copy_out

    with psycopg.connect(demo_pg_url) as conn:
        with pytest.raises(psycopg.errors.UndefinedColumn):
            copy_out(conn, "COPY (SELECT nope FROM artist) TO STDOUT", lambda data: None)
    with psycopg.connect(demo_pg_url) as conn:
        received = []
        assert copy_out(conn, "COPY (SELECT g FROM generate_series(1, 3) g) TO STDOUT", received.append) == 3
        assert [bytes(row) for row in received] == [b"1\n", b"2\n", b"3\n"]
