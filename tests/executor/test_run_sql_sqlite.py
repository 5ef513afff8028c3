"""run_sql on the SQLite demo: the same guard, with SQLite's own read-only locks behind it."""

import sqlite3

import pytest

from executor.connections import sqlite_statements
from executor.services import NeedsConfirmation, SqlError, SqlResult, run_sql, test_connection

from .helpers import Approval, canaries_present, direct_sqlite, remove_canaries, source, sqlite_snapshot
from .sql_corpus import SQLITE_READS, SQLITE_WRITES


@pytest.mark.parametrize("case", SQLITE_READS, ids=lambda c: c.sql[:60])
def test_every_corpus_read_returns_the_rows_sqlite_returns(demo_sqlite_url, case):
    result = run_sql(source(demo_sqlite_url), case.sql)
    assert isinstance(result, SqlResult) and not result.truncated
    if case.compare:
        columns, rows = direct_sqlite(demo_sqlite_url, case.sql)
        assert result.columns == columns
        assert result.rows == rows


def test_corpus_writes_never_reach_the_file_unapproved(demo_sqlite_url):
    remove_canaries()
    before = sqlite_snapshot(demo_sqlite_url)
    data_source = source(demo_sqlite_url)
    for case in SQLITE_WRITES:
        with pytest.raises(NeedsConfirmation) as info:
            run_sql(data_source, case.sql)
        assert info.value.sql == case.sql
        with pytest.raises(NeedsConfirmation):
            run_sql(data_source, case.sql, approval=Approval(case.sql + ";"))
    assert sqlite_snapshot(demo_sqlite_url) == before
    assert canaries_present() == []


def test_approved_corpus_writes_run(fresh_demo_sqlite_url):
    data_source = source(fresh_demo_sqlite_url)
    ran = 0
    for case in SQLITE_WRITES:
        if not case.execute:
            continue
        try:
            run_sql(data_source, case.sql, approval=Approval(case.sql))
            ran += 1
        except SqlError:
            pass
    assert ran >= 20
    assert canaries_present() == []


def test_issue_credit_works_the_same_statement_as_on_postgres(fresh_demo_sqlite_url):
    data_source = source(fresh_demo_sqlite_url)
    sql = "SELECT issue_credit(5, 20.00) AS credit_id"
    with pytest.raises(NeedsConfirmation):
        run_sql(data_source, sql)
    assert run_sql(data_source, sql, approval=Approval(sql)).rows == [{"credit_id": 1}]
    assert run_sql(data_source, "SELECT customer_id, amount FROM credit").rows == [{"customer_id": 5, "amount": 20}]
    # Foreign keys are on for writes: no credit for a customer who does not exist.
    bad = "SELECT issue_credit(999, 1.00) AS credit_id"
    with pytest.raises(SqlError, match="FOREIGN KEY"):
        run_sql(data_source, bad, approval=Approval(bad))


def test_action_exists_only_where_declared(fresh_demo_sqlite_url):
    sql = "SELECT issue_credit(5, 1.00)"
    with pytest.raises(SqlError, match="no such function"):
        run_sql(source(fresh_demo_sqlite_url, actions=[]), sql, approval=Approval(sql))


def test_undeclared_write_is_refused_by_the_read_only_file(demo_sqlite_url, monkeypatch):
    # Pretend the guard misjudged a write as a read: the read-only connection still refuses it.
    from executor import services
    from executor.sql_guard import READ, Classification

    monkeypatch.setattr(services, "classify_for", lambda ds, sql: Classification(READ, "pretend", ()))
    before = sqlite_snapshot(demo_sqlite_url)
    for sql in ["DELETE FROM credit", "CREATE TEMP TABLE t (a)", "PRAGMA query_only = OFF", "ATTACH DATABASE ':memory:' AS m"]:
        with pytest.raises(NeedsConfirmation, match="read-only"):
            run_sql(source(demo_sqlite_url), sql)
    with pytest.raises((NeedsConfirmation, SqlError), match="not authorized"):
        run_sql(source(demo_sqlite_url), "SELECT load_extension('x')")
    assert sqlite_snapshot(demo_sqlite_url) == before


def test_time_limit_interrupts_long_queries(demo_sqlite_url):
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with pytest.raises(SqlError, match="timed out after 1s"):
        run_sql(source(demo_sqlite_url, statement_timeout_s=1), slow)


def test_row_cap(demo_sqlite_url):
    result = run_sql(source(demo_sqlite_url, row_limit=3), "SELECT id FROM track ORDER BY id")
    assert result.truncated and result.rows == [{"id": 1}, {"id": 2}, {"id": 3}]


def test_bytes_are_hex(demo_sqlite_url):
    assert run_sql(source(demo_sqlite_url), "SELECT x'DEADBEEF' AS b").rows == [{"b": "\\xdeadbeef"}]


def test_statement_splitting_follows_sqlite():
    assert sqlite_statements("SELECT 1; SELECT ';'; -- c\n") == ["SELECT 1;", "SELECT ';';"]
    trigger = "CREATE TRIGGER t AFTER INSERT ON a BEGIN DELETE FROM b; END; SELECT 2"
    assert sqlite_statements(trigger) == ["CREATE TRIGGER t AFTER INSERT ON a BEGIN DELETE FROM b; END;", "SELECT 2"]


def test_missing_file_and_non_database(tmp_path):
    ok, message = test_connection(source(f"sqlite:///{tmp_path}/nope.db", name="Local"))
    assert not ok and "could not connect to data source 'Local'" in message
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database " * 100)
    with pytest.raises(SqlError, match="could not connect|not a database"):
        run_sql(source(f"sqlite:///{junk}"), "SELECT count(*) FROM track")


def test_test_connection_reports_sqlite(demo_sqlite_url):
    ok, message = test_connection(source(demo_sqlite_url))
    assert ok and "SQLite" in message


def test_reads_do_not_create_journal_files(demo_sqlite_url):
    run_sql(source(demo_sqlite_url), "SELECT count(*) FROM track")
    path = demo_sqlite_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
