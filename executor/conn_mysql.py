"""MySQL / MariaDB connections (PyMySQL), with the same two locks as PostgreSQL.

Reads run in `START TRANSACTION READ ONLY` with a per-statement time limit (MariaDB's
max_statement_time, MySQL's max_execution_time), one statement per round trip (the client never
sets MULTI_STATEMENTS for reads, so text hiding a second statement is refused by the server), rows
streamed through an unbuffered cursor. The session's sql_mode is set so the server tokenizes as
the guard did (no ANSI_QUOTES, backslash escapes on). LOAD DATA LOCAL is off in the client (a
server asking for a local file gets an error). Writes run the approved text whole, in one
transaction, with MULTI_STATEMENTS so the server splits it as the human read it.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
from pymysql.constants import CLIENT
from pymysql.cursors import SSCursor

from . import boundary
from .connections import (FETCH_CHUNK, Failure, RawResult, _connect_timeout, _refused, _unreachable, _verified, _write_result,
                          mapped_errors)
from .dsn import redact
from .sql_guard import Statement

_SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
_READ_ONLY_ERRORS = {1792, 1290}  # in a READ ONLY transaction; --read-only server
_TIMEOUT_ERRORS = {1969, 3024, 1317}  # MariaDB max_statement_time, MySQL max_execution_time, interrupted
_CONNECTION_ERRORS = range(2000, 3000)  # client-side: lost, gone away, cannot connect


def connect(ds, *, multi_statements: bool = False) -> pymysql.connections.Connection:
    """A connection to the checked address, the session's limits set, refused if it is Querent's."""
    try:
        kwargs = boundary.mysql_connect_kwargs(ds.connection_url)
    except boundary.Refused as exc:
        raise _refused(ds, exc) from None
    try:
        conn = pymysql.connect(
            **kwargs, connect_timeout=_connect_timeout(), autocommit=True,
            # The socket gives up a little after the server's own limit: a dropped connection is an error, not a hang.
            read_timeout=ds.statement_timeout_s + _connect_timeout(), write_timeout=ds.statement_timeout_s + _connect_timeout(),
            client_flag=CLIENT.MULTI_STATEMENTS if multi_statements else 0, program_name="querent",
        )
    except pymysql.Error as exc:
        raise _unreachable(ds, exc) from None
    with _verified(ds, conn, pymysql.Error):
        with conn.cursor() as cur:
            cur.execute(f"SET SESSION sql_mode = '{_SQL_MODE}'")
            if is_mariadb(conn):
                cur.execute(f"SET SESSION max_statement_time = {float(ds.statement_timeout_s)}")
            else:
                cur.execute(f"SET SESSION max_execution_time = {int(ds.statement_timeout_s * 1000)}")
        boundary.check_not_querent_mysql(conn)
    return conn


def is_mariadb(conn) -> bool:
    return "mariadb" in (conn.get_server_info() or "").lower()


def _message(exc: pymysql.Error) -> str:
    args = getattr(exc, "args", ())
    return str(args[1]) if len(args) > 1 else (str(exc).strip() or type(exc).__name__)


def errors(ds, sql: str, *, reading: bool):
    def classify(exc: Exception) -> Failure:
        if not isinstance(exc, pymysql.Error):  # a socket dropped mid-result; a LOAD LOCAL request refused
            return Failure("unreachable")
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = redact(_message(exc), ds.connection_url)
        if code in _READ_ONLY_ERRORS and reading:
            return Failure("read_only", text)
        if code in _TIMEOUT_ERRORS:
            return Failure("timeout")
        if code in _CONNECTION_ERRORS or code is None and isinstance(exc, pymysql.OperationalError):
            return Failure("unreachable")
        return Failure("error", f"{text} (error {code})" if code else text)

    return mapped_errors(ds, sql, catch=(pymysql.Error, OSError, RuntimeError), classify=classify)


@contextmanager
def read(ds, sql: str, statements: tuple[Statement, ...]):
    conn = connect(ds)
    cursors = []
    try:
        with errors(ds, sql, reading=True):
            conn.query("START TRANSACTION READ ONLY")
            if not statements:
                yield [], iter(())
            for index, statement in enumerate(statements):
                cur = conn.cursor(SSCursor)  # unbuffered: rows arrive as they are read
                cursors.append(cur)
                cur.execute(statement.sql)
                if index < len(statements) - 1:
                    while cur.fetchmany(FETCH_CHUNK):
                        pass
                    cur.close()
                    continue
                columns = [d[0] for d in cur.description] if cur.description else []
                yield columns, _rows(ds, sql, cur)
    finally:
        _abandon(conn, cursors)  # never committed: a read leaves nothing behind


def _rows(ds, sql: str, cur) -> Iterator[tuple]:
    with errors(ds, sql, reading=True):
        while chunk := cur.fetchmany(FETCH_CHUNK):
            yield from chunk


def _abandon(conn, cursors) -> None:
    """Close without reading what is left of an unbuffered result (the row cap stopped early):
    the socket is dropped and the server rolls back. PyMySQL would otherwise read every
    remaining row, at close or when the cursor is collected."""
    for cur in cursors:
        if cur._result is not None:
            cur._result.unbuffered_active = False
        cur.connection = None
    conn._force_close()


def _close(conn) -> None:
    try:
        conn.close()
    except Exception:  # an unread unbuffered result or a dead socket: the server rolls back either way
        conn._force_close()


def write(ds, sql: str, max_rows: int) -> RawResult:
    conn = connect(ds, multi_statements=True)
    try:
        with errors(ds, sql, reading=False):
            conn.begin()
            with conn.cursor() as cur:
                cur.execute(sql)  # the approved text, verbatim and whole
                affected, result = 0, None
                while True:
                    if cur.description is not None:
                        result = ([d[0] for d in cur.description], list(cur.fetchmany(max_rows + 1)))
                    elif cur.rowcount and cur.rowcount > 0:
                        affected += cur.rowcount
                    if not cur.nextset():
                        break
            conn.commit()
    finally:
        _close(conn)
    return _write_result(result, affected, max_rows)


def ping(ds) -> str:
    conn = connect(ds)
    try:
        with errors(ds, "SELECT version()", reading=True):
            return f"{'MariaDB' if is_mariadb(conn) else 'MySQL'} {conn.get_server_info()}"
    finally:
        _close(conn)


@contextmanager
def read_connection(ds):
    """A PyMySQL connection inside a read-only transaction with the time limit; errors mapped."""
    conn = connect(ds)
    try:
        with errors(ds, "", reading=True):
            conn.query("START TRANSACTION READ ONLY")
            yield conn
    finally:
        _close(conn)
