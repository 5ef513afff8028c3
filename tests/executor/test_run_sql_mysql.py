"""run_sql on a real MariaDB (the session's own server): reads are correct, no write gets through
without its approval, the time limit holds, a dropped connection is a clean error."""

import threading
import time
from pathlib import Path

import pymysql
import pytest

from executor.connections import open_read
from executor.schema import introspect, render_summary
from executor.services import NeedsConfirmation, SqlError, SqlResult, run_sql, test_connection
from executor.sql_guard import READ, Statement
from executor.values import json_safe, unique_columns

from .helpers import Approval, source
from .mysql_corpus import MYSQL_READS, MYSQL_WRITES


def direct(mariadb, url: str, sql: str) -> tuple[list[str], list[dict]]:
    database = url.rsplit("/", 1)[1]
    with mariadb.admin(database) as conn, conn.cursor() as cur:
        columns, rows = [], []
        for part in [s for s in sql.split(";") if s.strip()]:
            cur.execute(part)
            if cur.description:
                columns = unique_columns([d[0] for d in cur.description])
                rows = [{c: json_safe(v) for c, v in zip(columns, row)} for row in cur.fetchall()]
    return columns, rows


def snapshot(mariadb, url: str) -> dict:
    database = url.rsplit("/", 1)[1]
    tables = [r[0] for r in mariadb.query(database, "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")]
    state = {t: mariadb.query(database, f"CHECKSUM TABLE `{t}`")[0][1] for t in sorted(tables)}
    state["_routines"] = mariadb.query(database, "SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE()")
    state["_users"] = mariadb.query(None, "SELECT user FROM mysql.user ORDER BY user")
    state["_max_connections"] = mariadb.query(None, "SELECT @@global.max_connections")
    return state


@pytest.mark.parametrize("case", MYSQL_READS, ids=lambda c: c.sql[:60])
def test_every_corpus_read_returns_the_rows_mariadb_returns(mariadb, mariadb_demo_url, case):
    result = run_sql(source(mariadb_demo_url), case.sql)
    assert isinstance(result, SqlResult) and not result.truncated
    if case.compare:
        assert (result.columns, result.rows) == direct(mariadb, mariadb_demo_url, case.sql)


def test_corpus_writes_never_reach_the_database_unapproved(mariadb, mariadb_demo_url, tmp_path):
    data_source = source(mariadb_demo_url)
    before = snapshot(mariadb, mariadb_demo_url)
    for case in MYSQL_WRITES:
        with pytest.raises(NeedsConfirmation) as info:
            run_sql(data_source, case.sql)
        assert info.value.sql == case.sql and info.value.reason
        for other in (case.sql + " ", "SELECT 1"):
            with pytest.raises(NeedsConfirmation):
                run_sql(data_source, case.sql, approval=Approval(other))
    assert snapshot(mariadb, mariadb_demo_url) == before
    assert not list(Path("/tmp").glob("querent-guard-canary-*"))
    assert not list((mariadb.base / "files").iterdir())


def test_a_read_the_guard_let_through_is_still_refused_by_the_read_only_transaction(mariadb_demo_url):
    """The second lock: forced past the guard, a write fails inside START TRANSACTION READ ONLY."""
    data_source = source(mariadb_demo_url)
    forced = (Statement("INSERT INTO genre (name) VALUES ('x')", READ, "forced", False),)
    with pytest.raises(NeedsConfirmation, match="read-only"):
        with open_read(data_source, forced[0].sql, forced) as (_, rows):
            list(rows)
    action = (Statement("SELECT issue_credit(1, 1.00)", READ, "forced", True),)
    with pytest.raises(NeedsConfirmation, match="read-only"):
        with open_read(data_source, action[0].sql, action) as (_, rows):
            list(rows)
    assert run_sql(data_source, "SELECT count(*) AS n FROM credit").rows == [{"n": 0}]


def test_load_data_local_is_refused_by_the_client_too(mariadb, fresh_mariadb_demo_url):
    """Even approved, LOAD DATA LOCAL cannot read a file of the Querent host: the client never offers it."""
    sql = "LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE genre (name)"
    with pytest.raises(NeedsConfirmation):
        run_sql(source(fresh_mariadb_demo_url), sql)
    with pytest.raises(SqlError):
        run_sql(source(fresh_mariadb_demo_url), sql, approval=Approval(sql))
    database = fresh_mariadb_demo_url.rsplit("/", 1)[1]
    assert mariadb.query(database, "SELECT count(*) FROM genre")[0][0] == 25


def test_an_approved_write_runs_once_and_an_action_returns_its_rows(mariadb, fresh_mariadb_demo_url):
    data_source = source(fresh_mariadb_demo_url)
    sql = "SELECT issue_credit(5, 20.00) AS credit_id"
    with pytest.raises(NeedsConfirmation, match="issue_credit"):
        run_sql(data_source, sql)
    result = run_sql(data_source, sql, approval=Approval(sql))
    assert result.columns == ["credit_id"] and result.rows == [{"credit_id": 1}]
    assert run_sql(data_source, "SELECT customer_id, amount FROM credit").rows == [{"customer_id": 5, "amount": 20.0}]
    update = "UPDATE track SET unit_price = 1.99 WHERE id <= 3; INSERT INTO genre (name) VALUES ('Polka')"
    result = run_sql(data_source, update, approval=Approval(update))
    assert result.rows == [{"rows_affected": 4}]
    database = fresh_mariadb_demo_url.rsplit("/", 1)[1]
    assert mariadb.query(database, "SELECT count(*) FROM genre WHERE name = 'Polka'")[0][0] == 1


def test_a_failing_approved_write_changes_nothing(mariadb, fresh_mariadb_demo_url):
    sql = "INSERT INTO genre (name) VALUES ('Polka'); INSERT INTO no_such_table VALUES (1)"
    with pytest.raises(SqlError, match="no_such_table"):
        run_sql(source(fresh_mariadb_demo_url), sql, approval=Approval(sql))
    database = fresh_mariadb_demo_url.rsplit("/", 1)[1]
    assert mariadb.query(database, "SELECT count(*) FROM genre WHERE name = 'Polka'")[0][0] == 0


def test_a_slow_read_stops_at_the_statement_time_limit(mariadb_demo_url):
    data_source = source(mariadb_demo_url, statement_timeout_s=1)
    with pytest.raises(SqlError, match="timed out after 1s"):
        run_sql(data_source, "SELECT count(*) FROM track a, track b, track c")
    assert run_sql(data_source, "SELECT count(*) AS n FROM genre").rows == [{"n": 25}]


def test_a_connection_killed_mid_query_is_a_clean_error_with_a_reference(mariadb, mariadb_demo_url, caplog):
    data_source = source(mariadb_demo_url)
    killer = threading.Thread(target=_kill_querent_queries, args=(mariadb,))
    killer.start()
    try:
        with pytest.raises(SqlError) as info:
            run_sql(data_source, "SELECT SLEEP(20) AS s")
    finally:
        killer.join()
    assert "could not connect" in info.value.message or "interrupted" in info.value.message.lower()
    assert "s3cret" not in info.value.message and "s3cret" not in caplog.text
    assert run_sql(data_source, "SELECT 1 AS one").rows == [{"one": 1}]


def _kill_querent_queries(mariadb) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with mariadb.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(20)%'")
            ids = [r[0] for r in cur.fetchall()]
            for pid in ids:
                cur.execute(f"KILL CONNECTION {int(pid)}")
            if ids:
                return
        time.sleep(0.05)


def test_unreachable_and_bad_passwords_read_alike_and_never_show_the_password(mariadb, mariadb_demo_url):
    from tests.support.ports import closed_port

    wrong = mariadb_demo_url.replace("s3cret-Maria-pw", "wrong-pw-123")
    ok, message = test_connection(source(wrong))
    assert not ok and "could not connect" in message and "wrong-pw-123" not in message
    ok, closed = test_connection(source(f"mysql://u:pw-x@127.0.0.1:{closed_port()}/db"))
    assert not ok and closed.split(" (reference")[0] == message.split(" (reference")[0]
    ok, message = test_connection(source(mariadb_demo_url))
    assert ok and "MariaDB" in message


def test_schema_introspection_and_summary(mariadb_demo_url):
    schema = introspect(source(mariadb_demo_url))
    tables = {t["name"]: t for t in schema["tables"]}
    assert {"track", "album", "invoice_line", "credit"} <= set(tables)
    assert tables["track"]["primary_key"] == ["id"]
    assert {"columns": ["album_id"], "ref_schema": None, "ref_table": "album", "ref_columns": ["id"]} in tables["track"]["foreign_keys"]
    assert any(c.get("samples") for c in tables["genre"]["columns"])
    assert [f["name"] for f in schema["functions"]] == ["issue_credit"]
    summary = render_summary(schema, question="tracks by genre")
    assert "track" in summary and "genre" in summary and "issue_credit" in summary


def test_no_session_state_survives_between_calls(mariadb_demo_url):
    data_source = source(mariadb_demo_url)
    first = run_sql(data_source, "SELECT CONNECTION_ID() AS id").rows[0]["id"]
    second = run_sql(data_source, "SELECT CONNECTION_ID() AS id").rows[0]["id"]
    assert first != second
    assert run_sql(data_source, "SELECT @@session.sql_mode AS m").rows[0]["m"].find("ANSI_QUOTES") < 0


def test_row_limit_streams_and_truncates(mariadb_demo_url):
    result = run_sql(source(mariadb_demo_url, row_limit=10), "SELECT id FROM track ORDER BY id")
    assert result.truncated and len(result.rows) == 10 and result.rows[-1] == {"id": 10}


def test_pymysql_refuses_a_server_asking_for_a_local_file():
    """A hostile server may answer any query with a LOAD LOCAL request; the client must not obey."""
    assert pymysql.__version__ and not pymysql.connections.Connection.__init__.__kwdefaults__["local_infile"]
