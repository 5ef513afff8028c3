"""A query's result as Dataherald's `generate_csv` wants it: inline up to 50 rows, else a CSV file.

The first 51 rows come through the executor's guarded streaming read (`read_stream`: classified
first, a read-only transaction, a server-side cursor). Past 50 rows the whole result goes to a CSV
without ever being held in memory:

- PostgreSQL, one query: `COPY (<query>) TO STDOUT` inside the executor's read-only transaction
  (`pg_read_connection`), read through libpq. It runs at 0.7-0.9x the speed of `psql \\copy` (the
  server formats the CSV), where converting a million rows to Python values and back ran at about
  0.06x (bench/csv_export.py). The wrap is safe because the very same text has just been accepted
  by the server as the whole body of `DECLARE ... CURSOR FOR`, i.e. as one complete query: it
  cannot close the parenthesis early.
  The query runs twice (peek, then COPY), each under the data source's statement timeout.
- Anything else (SQLite, several statements): the rows keep streaming from the same cursor into
  Python's csv writer.

Either way, text that a spreadsheet would run as a formula (`=HYPERLINK(...)`, `@SUM(...)`, ...)
gets a leading apostrophe on its way to the file, by the chat page's rule (config/csv_cells.py).
"""

from __future__ import annotations

import csv
import io
import json
import selectors
from dataclasses import dataclass
from itertools import chain, islice

import psycopg
from psycopg import errors as psycopg_errors
from psycopg import pq

from config.csv_cells import escaping_writer, safe_cell
from executor.connections import pg_read_connection
from executor.services import classify_for, read_stream

from .storage import csv_writer

INLINE_LIMIT = 50  # Dataherald's MAX_ROWS_TO_CREATE_CSV_FILE
BATCH = 1000


@dataclass
class Inline:
    columns: list[str]
    rows: list[dict]


@dataclass
class Exported:
    columns: list[str]
    preview: list[dict]  # the first INLINE_LIMIT rows, for the answer and the evaluator
    row_count: int
    location: str


def result_or_csv(data_source, sql: str, *, name: str, inline_limit: int = INLINE_LIMIT) -> Inline | Exported:
    """Raises the executor's SqlError / NeedsConfirmation like `run_sql`; storage errors as StorageError."""
    copy_text = _copyable(data_source, sql)
    with read_stream(data_source, sql) as (columns, rows):
        head = list(islice(rows, inline_limit + 1))
        if len(head) <= inline_limit:
            return Inline(columns, head)
        if copy_text is None:
            with csv_writer(name) as sink:
                count = write_rows(sink, columns, chain(head, rows))
            return Exported(columns, head[:inline_limit], count, sink.location)
    with csv_writer(name) as sink:
        count = copy_csv(data_source, copy_text, sink)
    return Exported(columns, head[:inline_limit], count, sink.location)


def _copyable(data_source, sql: str) -> str | None:
    """The query's own text when it can be exported with COPY: PostgreSQL, one row-returning read."""
    if data_source.engine != "postgresql":
        return None
    classification = classify_for(data_source, sql)
    statements = classification.statements
    if not classification.is_read or len(statements) != 1 or not statements[0].returns_rows:
        return None
    return statements[0].sql


def copy_csv(data_source, query: str, sink) -> int:
    """Server-formatted CSV (header first) into `sink`, one row at a time, text that a spreadsheet
    would run as a formula escaped on the way (config.csv_cells); returns the row count."""
    # The newline before ")" ends a trailing "-- comment" in the query.
    command = f"COPY (\n{query}\n) TO STDOUT WITH (FORMAT csv, HEADER)"
    with pg_read_connection(data_source) as conn:
        return copy_out(conn, command, escaping_writer(sink.write, conn.info.encoding))


def copy_out(conn: psycopg.Connection, command: str, write) -> int:
    """Run `COPY ... TO STDOUT` and pass each row's bytes to `write`; returns the row count.

    Driven through libpq (psycopg.pq) rather than `cursor.copy()`: psycopg's Copy object runs a
    Python generator per row, which made million-row exports 1.5-2x slower than psql; here a row
    costs one C call. Non-blocking throughout, so other threads of the worker keep running while
    the server works. Errors are psycopg's own exception classes, mapped by the caller's context.
    """
    pgconn = conn.pgconn
    with selectors.DefaultSelector() as selector:
        selector.register(pgconn.socket, selectors.EVENT_READ)

        def wait_readable() -> None:
            selector.select()
            pgconn.consume_input()

        pgconn.send_query(command.encode(conn.info.encoding))
        while pgconn.flush():  # the command is short, but a non-blocking send may still be partial
            selector.modify(pgconn.socket, selectors.EVENT_WRITE)
            selector.select()
            selector.modify(pgconn.socket, selectors.EVENT_READ)
        pgconn.consume_input()
        while pgconn.is_busy():
            wait_readable()
        started = pgconn.get_result()
        if started is None or started.status != pq.ExecStatus.COPY_OUT:
            _drain(pgconn)
            raise _error(conn, started)
        get = pgconn.get_copy_data
        while True:
            size, data = get(1)
            if size > 0:
                write(data)
            elif size == 0:
                wait_readable()
            elif size == -1:
                break
            else:
                raise psycopg.OperationalError(pgconn.get_error_message(conn.info.encoding) or "COPY failed")
        while pgconn.is_busy():
            wait_readable()
        finished = pgconn.get_result()
        _drain(pgconn)
        if finished is None or finished.status != pq.ExecStatus.COMMAND_OK:
            raise _error(conn, finished)
        return int(finished.command_tuples or 0)


def _drain(pgconn) -> None:
    while pgconn.get_result() is not None:
        pass


def _error(conn: psycopg.Connection, result) -> psycopg.Error:
    if result is None:
        return psycopg.OperationalError(conn.pgconn.get_error_message(conn.info.encoding) or "COPY did not start")
    return psycopg_errors.error_from_result(result, encoding=conn.info.encoding)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return safe_cell(value)


def write_rows(sink, columns: list[str], rows) -> int:
    """CSV (header first) of JSON-safe row dicts into `sink`, a batch at a time; returns the row count."""
    buffer = io.StringIO()
    # CRLF, as RFC 4180 and the chat page's download: Python's writer quotes a value only for the
    # characters of its line terminator, so with "\n" alone a bare CR in a value went out unquoted
    # and a spreadsheet read what followed it as the start of a new row (an unescaped formula).
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in columns])
    count = 0
    while batch := list(islice(rows, BATCH)):
        writer.writerows([_cell(row.get(name)) for name in columns] for row in batch)
        count += len(batch)
        sink.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
    sink.write(buffer.getvalue().encode())
    return count
