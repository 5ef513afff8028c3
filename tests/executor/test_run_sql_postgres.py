"""run_sql on a real PostgreSQL demo: reads are correct, no write gets through without its approval."""

import datetime as dt

import psycopg
import pytest

from executor.connections import open_read
from executor.services import NeedsConfirmation, SqlError, SqlResult, run_sql, test_connection
from executor.sql_guard import READ, Statement

from tests.fixtures.demo_db import pg_url

from .helpers import Approval, canaries_present, direct_pg, pg_snapshot, remove_canaries, source
from .sql_corpus import PG_READS, PG_WRITES


@pytest.fixture(scope="module")
def pristine(demo_pg_url):
    remove_canaries()
    return pg_snapshot(demo_pg_url)


@pytest.mark.parametrize("case", PG_READS, ids=lambda c: c.sql[:60])
def test_every_corpus_read_returns_the_rows_postgres_returns(demo_pg_url, case):
    result = run_sql(source(demo_pg_url), case.sql)
    assert isinstance(result, SqlResult)
    assert not result.truncated
    assert result.rowcount == len(result.rows)
    if case.compare:
        columns, rows = direct_pg(demo_pg_url, case.sql)
        assert result.columns == columns
        assert result.rows == rows


def test_corpus_writes_never_reach_the_database_unapproved(demo_pg_url, pristine):
    data_source = source(demo_pg_url)
    for case in PG_WRITES:
        with pytest.raises(NeedsConfirmation) as info:
            run_sql(data_source, case.sql)
        assert info.value.sql == case.sql
        assert info.value.reason
        # An approval for any other text is no approval.
        for other in (case.sql + " ", case.sql.lower() if case.sql.lower() != case.sql else case.sql + ";", "SELECT 1"):
            with pytest.raises(NeedsConfirmation):
                run_sql(data_source, case.sql, approval=Approval(other))
        with pytest.raises(NeedsConfirmation):
            run_sql(data_source, case.sql, approval=Approval(""))
    assert pg_snapshot(demo_pg_url) == pristine
    assert canaries_present() == []
    with psycopg.connect(demo_pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM credit").fetchone()[0] == 0


def test_approved_corpus_writes_run_in_a_write_transaction(fresh_demo_pg_url):
    """With the right approval nothing is refused any more (it runs, or the database says why)."""
    data_source = source(fresh_demo_pg_url)
    outcomes = {}
    for case in PG_WRITES:
        if not case.execute:
            continue
        try:
            outcomes[case.sql] = run_sql(data_source, case.sql, approval=Approval(case.sql))
        except SqlError as exc:
            outcomes[case.sql] = exc
    ran = [sql for sql, outcome in outcomes.items() if isinstance(outcome, SqlResult)]
    assert len(ran) >= 40, "most approved corpus statements should simply run"
    assert canaries_present() == []


def test_approved_action_returns_its_rows_and_changes_data(fresh_demo_pg_url):
    data_source = source(fresh_demo_pg_url)
    sql = "SELECT issue_credit(5, 20.00) AS credit_id"
    with pytest.raises(NeedsConfirmation):
        run_sql(data_source, sql)
    result = run_sql(data_source, sql, approval=Approval(sql))
    assert result.columns == ["credit_id"] and result.rows == [{"credit_id": 1}]
    rows = run_sql(data_source, "SELECT customer_id, amount FROM credit").rows
    assert rows == [{"customer_id": 5, "amount": 20.0}]


def test_approved_dml_without_rows_reports_rows_affected(fresh_demo_pg_url):
    data_source = source(fresh_demo_pg_url)
    sql = "UPDATE genre SET name = upper(name) WHERE id <= 3"
    result = run_sql(data_source, sql, approval=Approval(sql))
    assert result.rows == [{"rows_affected": 3}] and result.rowcount == 3
    sql = "INSERT INTO artist (name) VALUES ('New'); DELETE FROM artist WHERE name = 'New'"
    assert run_sql(data_source, sql, approval=Approval(sql)).rows == [{"rows_affected": 2}]


def test_failed_approved_write_rolls_back_everything(fresh_demo_pg_url):
    data_source = source(fresh_demo_pg_url)
    sql = "DELETE FROM playlist_track; DELETE FROM artist"  # the second violates album's foreign key
    with pytest.raises(SqlError, match="foreign key"):
        run_sql(data_source, sql, approval=Approval(sql))
    assert run_sql(data_source, "SELECT count(*) AS n FROM playlist_track").rows == [{"n": 8715}]


def test_a_write_the_guard_cannot_see_is_refused_by_the_database(fresh_demo_pg_url):
    # A function nobody declared writes inside: the guard calls it a read, the read-only transaction refuses.
    setup = "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql VOLATILE AS $$ INSERT INTO credit (customer_id, amount) VALUES (1, 1) RETURNING id $$"
    data_source = source(fresh_demo_pg_url)
    run_sql(data_source, setup, approval=Approval(setup))
    with pytest.raises(NeedsConfirmation) as info:
        run_sql(data_source, "SELECT sneaky()")
    assert "read-only" in info.value.reason
    assert run_sql(data_source, "SELECT count(*) AS n FROM credit").rows == [{"n": 0}]
    # Approved, it runs (once) in a write transaction.
    assert run_sql(data_source, "SELECT sneaky()", approval=Approval("SELECT sneaky()")).rows == [{"sneaky": 1}]


def test_server_refuses_two_commands_in_one_read_statement(demo_pg_url):
    # Second lock: even if the guard's statement boundaries were wrong, one message = one command.
    smuggled = (Statement("SELECT 1; SELECT pg_sleep(0)", READ, "test", True),)
    with pytest.raises(SqlError, match="multiple commands"):
        with open_read(source(demo_pg_url), "x", smuggled) as (_, rows):
            list(rows)
    smuggled = (Statement("SHOW search_path; SELECT 1", READ, "test", False),)
    with pytest.raises(SqlError, match="multiple commands"):
        with open_read(source(demo_pg_url), "x", smuggled) as (_, rows):
            list(rows)


def test_reads_run_read_only_with_the_time_limit(demo_pg_url):
    result = run_sql(
        source(demo_pg_url, statement_timeout_s=7),
        "SELECT current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS timeout",
    )
    assert result.rows == [{"ro": "on", "timeout": "7s"}]


def test_statement_timeout_is_a_clear_error(demo_pg_url):
    with pytest.raises(SqlError, match="timed out after 1s"):
        run_sql(source(demo_pg_url, statement_timeout_s=1), "SELECT pg_sleep(3)")


def test_row_cap_truncates_and_says_so(demo_pg_url):
    result = run_sql(source(demo_pg_url, row_limit=10), "SELECT id FROM track ORDER BY id")
    assert result.truncated and result.rowcount == 10
    assert [r["id"] for r in result.rows] == list(range(1, 11))
    exact = run_sql(source(demo_pg_url, row_limit=5), "SELECT id FROM media_type")
    assert not exact.truncated and exact.rowcount == 5


def test_values_are_json_safe(demo_pg_url):
    sql = (
        "SELECT 0.99::numeric(10,2) AS price, 12345678901234567890.123456789::numeric AS big, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '\\xdeadbeef'::bytea AS b, "
        "interval '1 day 2 hours' AS d, ARRAY[1, 2] AS arr, '{\"a\": [1, 2.5]}'::jsonb AS j, DATE '2020-01-02' AS dt, "
        "TIMESTAMP '2020-01-02 03:04:05' AS ts, TIMESTAMPTZ '2020-01-02 03:04:05+00' AS tstz, "
        "'NaN'::numeric AS nan, 'inet'::text AS t, '10.0.0.1'::inet AS ip, sum(x) AS total FROM (VALUES (1), (2)) v(x)"
    )
    row = run_sql(source(demo_pg_url), sql).rows[0]
    assert row["price"] == 0.99 and isinstance(row["price"], float)
    assert row["big"] == "12345678901234567890.123456789"
    assert row["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert row["b"] == "\\xdeadbeef"
    assert row["d"] == dt.timedelta(days=1, hours=2).total_seconds()
    assert row["arr"] == [1, 2] and row["j"] == {"a": [1, 2.5]}
    assert row["dt"] == "2020-01-02" and row["ts"] == "2020-01-02T03:04:05"
    assert row["tstz"].startswith("2020-01-02T03:04:05")
    assert row["nan"] == "NaN" and row["ip"] == "10.0.0.1" and row["total"] == 3


def test_duplicate_column_names_stay_apart(demo_pg_url):
    result = run_sql(source(demo_pg_url), "SELECT 1 AS id, 2 AS id, 3 AS id_2")
    assert result.columns == ["id", "id_2", "id_2_2"]
    assert result.rows == [{"id": 1, "id_2": 2, "id_2_2": 3}]


def test_errors_point_into_the_users_text(demo_pg_url):
    with pytest.raises(SqlError) as info:
        run_sql(source(demo_pg_url), "SELECT nme FROM artist")
    message = info.value.message
    assert 'column "nme" does not exist' in message
    assert "DECLARE" not in message and "LINE 1: SELECT nme FROM artist" in message
    assert "HINT" in message


def test_empty_sql_is_an_error(demo_pg_url):
    with pytest.raises(SqlError):
        run_sql(source(demo_pg_url), "   ")


def test_unreachable_source_is_a_clear_error_without_password():
    data_source = source("postgresql://bob:hunter2secret@127.0.0.1:1/nowhere", name="Warehouse")
    with pytest.raises(SqlError) as info:
        run_sql(data_source, "SELECT 1")
    assert info.value.message.startswith("could not connect to data source 'Warehouse' (reference ")
    assert "hunter2secret" not in info.value.message
    ok, message = test_connection(data_source)
    assert not ok and "hunter2secret" not in message and "Warehouse" in message


def test_missing_database_reads_like_any_other_failure_and_the_log_has_why(demo_pg_url, caplog):
    url = pg_url("querent_no_such_db").replace("postgres@", "postgres:pw123456@", 1)
    ok, message = test_connection(source(url))
    assert not ok and "does not exist" not in message and "pw123456" not in message
    reference = message.split("(reference ", 1)[1].split(";", 1)[0]
    logged = [r.getMessage() for r in caplog.records if reference in r.getMessage()]
    assert logged and "does not exist" in logged[0] and "pw123456" not in logged[0]


def test_test_connection_reports_the_server(demo_pg_url):
    ok, message = test_connection(source(demo_pg_url))
    assert ok and "PostgreSQL" in message


def test_read_stream_is_not_capped_and_refuses_writes(demo_pg_url):
    from executor.services import read_stream

    data_source = source(demo_pg_url, row_limit=10)
    with read_stream(data_source, "SELECT id, unit_price FROM track ORDER BY id") as (columns, rows):
        assert columns == ["id", "unit_price"]
        ids = [row["id"] for row in rows]
    assert ids == list(range(1, 3504))
    with read_stream(data_source, "SELECT id FROM track ORDER BY id", max_rows=3) as (_, rows):
        assert [r["id"] for r in rows] == [1, 2, 3]
    with pytest.raises(NeedsConfirmation):
        with read_stream(data_source, "DELETE FROM track"):
            pass
