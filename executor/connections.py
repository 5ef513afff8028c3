"""Per-call connections to a data source, one engine at a time, with the database as the second lock.

Reads: Postgres runs them in `SET TRANSACTION READ ONLY` with `SET LOCAL statement_timeout`, each
statement on its own over the extended protocol (one command per message, so text that hides a
second statement is refused by the server); queries stream through a server-side cursor, so the
row cap bounds memory. MySQL/MariaDB (conn_mysql) and DuckDB (conn_duckdb) follow the same rules. SQLite opens the file with `mode=ro`, `PRAGMA query_only`, no ATTACH, an
authorizer and a progress-handler deadline. A database refusing a statement as a write becomes
NeedsConfirmation. Writes run the approved text exactly as given, in one write transaction.

No pooling: a connection per call keeps credentials and session state out of long-lived memory.
"""

import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from django.conf import settings
from psycopg import errors as pg_errors

from . import boundary
from .dsn import redact
from .errors import NeedsConfirmation, SqlError
from .sql_guard import BLOCKED_FUNCTIONS, BLOCKED_PREFIXES, READ_PRAGMAS, Statement
from .sqlite_actions import register_actions

FETCH_CHUNK = 500

log = logging.getLogger(__name__)


@dataclass
class RawResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool
    rowcount: int


def _connect_timeout() -> int:
    return getattr(settings, "DATA_SOURCE_CONNECT_TIMEOUT_S", 5)


def _unreachable(ds, exc: Exception) -> SqlError:
    """One message for every failure to connect: refused, filtered, wrong protocol, bad password and
    missing database read alike, so the connection test is no port scanner. The detail goes to the
    log under a reference the operator can look up."""
    reference = secrets.token_hex(4)
    text = str(exc).strip() or type(exc).__name__
    log.warning(
        "could not connect to data source %s (reference %s): %s", ds.pk, reference, redact(text, ds.connection_url)
    )
    return SqlError(f"could not connect to data source '{ds.name}' (reference {reference}; the server log has the details)")


def _refused(ds, exc: "boundary.Refused") -> SqlError:
    return SqlError(f"data source '{ds.name}' cannot be used: {exc.message}")


def _timed_out(ds) -> SqlError:
    return SqlError(f"statement timed out after {ds.statement_timeout_s}s (the data source's time limit)")


# --- a driver's errors, the same way for every engine ----------------------------------------


@dataclass(frozen=True)
class Failure:
    """What a driver's error means, as an engine's classifier reads it: `read_only` (the database
    refused a write in a read-only transaction; only when reading), `timeout`, `unreachable` (the
    connection itself failed) or `error`. `text`: the reason to show, redacted where the engine's
    message can hold the URL."""

    kind: str
    text: str = ""


Classifier = Callable[[Exception], Failure]


@contextmanager
def mapped_errors(ds, sql: str, *, catch, classify: Classifier):
    """The engine's `catch` errors raised as Querent's, as `classify` (which knows whether the
    engine was reading) reads them: a refused write while reading asks for confirmation of `sql`, a time limit or a lost connection reads alike on every engine, anything
    else is an SqlError with the engine's text."""
    try:
        yield
    except catch as exc:
        failure = classify(exc)
        if failure.kind == "read_only":
            raise NeedsConfirmation(sql, f"the database refused it in read-only mode: {failure.text}") from None
        if failure.kind == "timeout":
            raise _timed_out(ds) from None
        if failure.kind == "unreachable":
            raise _unreachable(ds, exc) from None
        raise SqlError(failure.text) from None


# --- PostgreSQL ----------------------------------------------------------------------------


def _pg_connect(ds) -> psycopg.Connection:
    """A connection to the address the policy checked, refused if it reached a Querent database."""
    try:
        kwargs = boundary.postgres_connect_kwargs(ds.connection_url)
    except boundary.Refused as exc:
        raise _refused(ds, exc) from None
    try:
        conn = psycopg.connect(**{**kwargs, "application_name": "querent"}, connect_timeout=_connect_timeout(), autocommit=True)
    except psycopg.Error as exc:
        raise _unreachable(ds, exc) from None
    with _verified(ds, conn, psycopg.Error):
        boundary.check_not_querent_postgres(conn)  # autocommit: no transaction started yet
        conn.autocommit = False
    return conn


@contextmanager
def _verified(ds, conn, driver_error):
    """The identity check after connecting: a refusal or a failure closes the connection."""
    try:
        yield
    except boundary.Refused as exc:
        conn.close()
        raise _refused(ds, exc) from None
    except driver_error as exc:
        conn.close()
        raise _unreachable(ds, exc) from None


def _pg_begin(conn: psycopg.Connection, ds, *, read_only: bool) -> None:
    timeout_ms = int(ds.statement_timeout_s * 1000)  # an int we computed: safe to format into the text
    with conn.cursor() as cur:
        # One round trip (psycopg has just sent BEGIN): both apply to this transaction only.
        cur.execute(("SET TRANSACTION READ ONLY; " if read_only else "") + f"SET LOCAL statement_timeout = {timeout_ms}")


@dataclass
class _Current:
    """The statement being run, so an error can point into the user's text, not our wrapper."""

    text: str = ""
    offset: int = 0  # characters we put in front of it (DECLARE ... CURSOR FOR)


def _pg_errors(ds, sql: str, *, reading: bool, current: _Current | None = None):
    def classify(exc: psycopg.Error) -> Failure:
        if isinstance(exc, pg_errors.ReadOnlySqlTransaction) and reading:
            return Failure("read_only", _pg_message(exc))
        if isinstance(exc, pg_errors.QueryCanceled) and "statement timeout" in str(exc):
            return Failure("timeout")
        if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
            return Failure("unreachable")  # the connection itself broke
        return Failure("error", redact(_pg_message(exc, current), ds.connection_url))

    return mapped_errors(ds, sql, catch=psycopg.Error, classify=classify)


def _pg_message(exc: psycopg.Error, current: _Current | None = None) -> str:
    diag = exc.diag
    if not diag.message_primary:
        return str(exc).strip() or type(exc).__name__
    lines = [diag.message_primary]
    position = int(diag.statement_position or 0) - (current.offset if current else 0)
    if current and current.text and 0 < position <= len(current.text):
        before = current.text[: position - 1]
        line_no = before.count("\n") + 1
        line_start = before.rfind("\n") + 1
        line_end = current.text.find("\n", line_start)
        line = current.text[line_start : None if line_end < 0 else line_end]
        lines.append(f"LINE {line_no}: {line}")
        lines.append(" " * (len(f"LINE {line_no}: ") + position - 1 - line_start) + "^")
    if diag.message_detail:
        lines.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        lines.append(f"HINT: {diag.message_hint}")
    return "\n".join(lines)


@contextmanager
def _pg_read(ds, sql: str, statements: tuple[Statement, ...]):
    conn = _pg_connect(ds)
    current = _Current()
    try:
        with _pg_errors(ds, sql, reading=True, current=current):
            _pg_begin(conn, ds, read_only=True)
            if not statements:
                yield [], iter(())
            for index, statement in enumerate(statements):
                current.text = statement.sql
                if statement.returns_rows:
                    name = f"querent_read_{index}"
                    current.offset = len(f'DECLARE "{name}" CURSOR FOR ')
                    cur = conn.cursor(name=name)  # DECLARE: streamed, extended protocol
                    cur.execute(statement.sql)
                else:
                    current.offset = 0
                    cur = conn.cursor()
                    cur.execute(statement.sql, prepare=True)  # prepared: exactly one command
                if index < len(statements) - 1:
                    _drain(cur)
                    cur.close()
                    continue
                columns = [d.name for d in cur.description] if cur.description else []
                yield columns, _pg_rows(ds, sql, cur, current)
    finally:
        conn.close()  # never committed: a read leaves nothing behind


def _drain(cur) -> None:
    if cur.description is None:
        return
    while cur.fetchmany(FETCH_CHUNK):
        pass


def _pg_rows(ds, sql: str, cur, current: _Current) -> Iterator[tuple]:
    with _pg_errors(ds, sql, reading=True, current=current):
        while chunk := cur.fetchmany(FETCH_CHUNK):
            yield from chunk


def _pg_write(ds, sql: str, max_rows: int) -> RawResult:
    conn = _pg_connect(ds)
    current = _Current(text=sql)
    try:
        with _pg_errors(ds, sql, reading=False, current=current):
            _pg_begin(conn, ds, read_only=False)
            with conn.cursor() as cur:
                # The approved text, verbatim and whole: the server splits it, as the human read it.
                cur.execute(sql)
                affected, result = 0, None
                while True:
                    if cur.description is not None:
                        result = ([d.name for d in cur.description], cur.fetchmany(max_rows + 1))
                    elif cur.rowcount > 0:
                        affected += cur.rowcount
                    if not cur.nextset():
                        break
            conn.commit()
    finally:
        conn.close()
    return _write_result(result, affected, max_rows)


def _write_result(result, affected: int, max_rows: int) -> "RawResult":
    """The rows of the last statement that returned any, else how many rows the statements changed."""
    if result is not None:
        columns, rows = result
        return RawResult(columns, rows[:max_rows], len(rows) > max_rows, len(rows[:max_rows]))
    return RawResult(["rows_affected"], [(affected,)], False, affected)


def _pg_ping(ds) -> str:
    conn = _pg_connect(ds)
    try:
        with _pg_errors(ds, "SELECT version()", reading=True):
            _pg_begin(conn, ds, read_only=True)
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                return f"PostgreSQL {cur.fetchone()[0]}"
    finally:
        conn.close()


# --- SQLite --------------------------------------------------------------------------------

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)


def sqlite_statements(sql: str) -> list[str]:
    """Split as SQLite itself would (its tokenizer decides where a statement is complete)."""
    out, start = [], 0
    for index, char in enumerate(sql):
        if char == ";" and sqlite3.complete_statement(sql[start : index + 1]):
            out.append(sql[start : index + 1])
            start = index + 1
    out.append(sql[start:])
    return [s.strip() for s in out if _COMMENTS.sub("", s).strip(" \t\r\n;")]


def _sqlite_file(ds):
    try:
        path = boundary.sqlite_file(ds.connection_url)
    except boundary.Refused as exc:
        raise _refused(ds, exc) from None
    if not path.is_file():
        raise _unreachable(ds, FileNotFoundError(f"no database file at {path}"))
    return path


def _deadline_handler(ds):
    deadline = time.monotonic() + ds.statement_timeout_s
    return lambda: 1 if time.monotonic() > deadline else 0


def _read_authorizer(action, arg1, arg2, db_name, trigger):
    # A second opinion at prepare time, for what `mode=ro` alone would let through.
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() not in READ_PRAGMAS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION:
        name = (arg2 or "").lower()
        if name in BLOCKED_FUNCTIONS or name.startswith(BLOCKED_PREFIXES):
            return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _sqlite_errors(ds, sql: str, *, reading: bool, action_failures: list | None = None):
    def classify(exc: sqlite3.Error) -> Failure:
        text = str(exc)
        if action_failures and "user-defined function raised exception" in text:
            text = f"{text}: {action_failures[-1]}"
        if text == "interrupted":
            return Failure("timeout")
        if reading and ("readonly database" in text or "not authorized" in text):
            return Failure("read_only", text)
        if "unable to open database" in text or "file is not a database" in text:
            return Failure("unreachable")
        return Failure("error", redact(text, ds.connection_url))

    return mapped_errors(ds, sql, catch=sqlite3.Error, classify=classify)


def _sqlite_open_read(ds) -> sqlite3.Connection:
    path = _sqlite_file(ds)
    try:
        conn = sqlite3.connect(
            f"{path.as_uri()}?mode=ro", uri=True, timeout=_connect_timeout(), isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise _unreachable(ds, exc) from None
    with _verified(ds, conn, sqlite3.Error):
        conn.execute("PRAGMA query_only = ON")
        boundary.check_not_querent_sqlite(conn)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.set_authorizer(_read_authorizer)
    conn.set_progress_handler(_deadline_handler(ds), 1000)
    return conn


@contextmanager
def _sqlite_read(ds, sql: str, statements: tuple[Statement, ...]):
    conn = _sqlite_open_read(ds)
    try:
        with _sqlite_errors(ds, sql, reading=True):
            conn.execute("BEGIN")  # one snapshot for every statement of the call
            parts = sqlite_statements(sql)
            for index, part in enumerate(parts):
                cur = conn.execute(part)
                if index < len(parts) - 1:
                    while cur.fetchmany(FETCH_CHUNK):
                        pass
                    continue
                columns = [d[0] for d in cur.description] if cur.description else []
                yield columns, _sqlite_rows(ds, sql, cur)
            if not parts:
                yield [], iter(())
    finally:
        conn.close()


def _sqlite_rows(ds, sql: str, cur) -> Iterator[tuple]:
    with _sqlite_errors(ds, sql, reading=True):
        while chunk := cur.fetchmany(FETCH_CHUNK):
            yield from chunk


def _sqlite_write(ds, sql: str, max_rows: int) -> RawResult:
    path = _sqlite_file(ds)
    conn = sqlite3.connect(str(path), timeout=_connect_timeout(), isolation_level=None, check_same_thread=False)
    failures: list[Exception] = []
    try:
        with _sqlite_errors(ds, sql, reading=False, action_failures=failures):
            try:
                boundary.check_not_querent_sqlite(conn)
            except boundary.Refused as exc:
                raise _refused(ds, exc) from None
            conn.execute("PRAGMA foreign_keys = ON")
            register_actions(conn, ds.actions, failures)
            conn.set_progress_handler(_deadline_handler(ds), 1000)
            conn.execute("BEGIN IMMEDIATE")
            affected, result = 0, None
            try:
                for part in sqlite_statements(sql):
                    cur = conn.execute(part)
                    if cur.description is not None:
                        result = ([d[0] for d in cur.description], cur.fetchmany(max_rows + 1))
                    elif cur.rowcount > 0:
                        affected += cur.rowcount
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
    finally:
        conn.close()
    return _write_result(result, affected, max_rows)


def _sqlite_ping(ds) -> str:
    conn = _sqlite_open_read(ds)
    try:
        with _sqlite_errors(ds, "SELECT sqlite_version()", reading=True):
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # "file is not a database" here
            return f"SQLite {conn.execute('SELECT sqlite_version()').fetchone()[0]}"
    finally:
        conn.close()


# --- raw read-only connections (schema introspection) -------------------------------------


@contextmanager
def pg_read_connection(ds):
    """A psycopg connection inside a read-only transaction with the time limit; errors mapped."""
    conn = _pg_connect(ds)
    try:
        with _pg_errors(ds, "", reading=True):
            _pg_begin(conn, ds, read_only=True)
            yield conn
    finally:
        conn.close()


@contextmanager
def sqlite_read_connection(ds):
    """An sqlite3 connection opened read-only, with the authorizer and deadline; errors mapped."""
    conn = _sqlite_open_read(ds)
    try:
        with _sqlite_errors(ds, "", reading=True):
            yield conn
    finally:
        conn.close()


# --- dispatch ------------------------------------------------------------------------------

# MySQL and DuckDB live in modules of their own that use the helpers above (hence imported here).
from . import conn_duckdb, conn_mysql  # noqa: E402

_READERS = {"postgresql": _pg_read, "sqlite": _sqlite_read, "mysql": conn_mysql.read, "duckdb": conn_duckdb.read}
_WRITERS = {"postgresql": _pg_write, "sqlite": _sqlite_write, "mysql": conn_mysql.write, "duckdb": conn_duckdb.write}
_PINGS = {"postgresql": _pg_ping, "sqlite": _sqlite_ping, "mysql": conn_mysql.ping, "duckdb": conn_duckdb.ping}


def _engine(ds) -> str:
    if ds.engine not in _READERS:
        raise SqlError(f"data source '{ds.name}' has an unsupported engine {ds.engine!r}")
    return ds.engine


def open_read(ds, sql: str, statements: tuple[Statement, ...]):
    """Context manager yielding (columns, row iterator) of the last statement, in a read-only transaction."""
    return _READERS[_engine(ds)](ds, sql, statements)


def execute_write(ds, sql: str, max_rows: int) -> RawResult:
    return _WRITERS[_engine(ds)](ds, sql, max_rows)


def ping(ds) -> str:
    return _PINGS[_engine(ds)](ds)
