"""DuckDB connections: a database file, or a folder of CSV/TSV/Parquet/JSON files seen as views.

Every connection has external access off and its configuration locked before the first user
statement: `read_csv('/etc/passwd')`, `COPY ... TO`, `ATTACH`, `INSTALL/LOAD`, secrets and URLs are
refused by DuckDB itself, whatever the guard made of the text. A folder's own files are the only
paths allowed (`allowed_paths`, exact files, set before the lock), read through views. Reads open
the file `read_only`; an approved write opens it read-write (a folder of files is never written).
The time limit is an interrupt from a timer.
"""

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from . import boundary
from .connections import FETCH_CHUNK, Failure, RawResult, _refused, _unreachable, _write_result, mapped_errors
from .dsn import redact
from .errors import SqlError
from .sql_guard import Statement

# Set at open: nothing fetched or loaded from outside (the extensions bundled with the wheel are built in).
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
FOLDER_READERS = {".csv": "read_csv", ".tsv": "read_csv", ".parquet": "read_parquet", ".json": "read_json_auto",
                  ".jsonl": "read_json_auto", ".ndjson": "read_json_auto"}


def _path(ds) -> Path:
    try:
        path = boundary.duckdb_path(ds.connection_url)
    except boundary.Refused as exc:
        raise _refused(ds, exc) from None
    if not path.exists():
        raise _unreachable(ds, FileNotFoundError(f"no DuckDB file or folder at {path}"))
    return path


def table_name(file: Path) -> str:
    """A folder file's view name: its stem, as an identifier."""
    return re.sub(r"\W+", "_", file.stem).strip("_").lower() or "data"


def folder_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in FOLDER_READERS)


def _lock(conn, allowed: list[Path]) -> None:
    if allowed:
        conn.execute("SET allowed_paths = ?", [[str(p) for p in allowed]])
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")


def open_connection(ds, *, write: bool = False) -> "duckdb.DuckDBPyConnection":
    path = _path(ds)
    try:
        if path.is_dir():
            if write:
                raise SqlError(f"data source '{ds.name}' is a folder of files, which Querent only reads")
            conn = duckdb.connect(":memory:", config=dict(_CONFIG))
            files = folder_files(path)
            for file in files:
                reader = FOLDER_READERS[file.suffix.lower()]
                options = ", delim = '\\t'" if file.suffix.lower() == ".tsv" else ""
                conn.execute(
                    f'CREATE VIEW "{table_name(file)}" AS SELECT * FROM {reader}(\'{_quote(file)}\'{options})'
                )
            _lock(conn, files)
            return conn
        conn = duckdb.connect(str(path), read_only=not write, config=dict(_CONFIG))
        _lock(conn, [])
        return conn
    except duckdb.Error as exc:
        text = str(exc).lower()
        if "lock" in text or "different configuration" in text:
            # DuckDB: one process may write a file, and then no other may read it; in one process a
            # writer waits for the readers' connections to close.
            raise SqlError(f"data source '{ds.name}' is busy: a DuckDB file is written by one connection at a "
                           "time, with no readers open; try again in a moment") from None
        raise _unreachable(ds, exc) from None


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


class _Deadline:
    """Interrupts the connection when the data source's time limit passes."""

    def __init__(self, ds, conn):
        self.fired = False
        self._timer = threading.Timer(ds.statement_timeout_s, self._fire, args=(conn,))
        self._timer.daemon = True
        self._timer.start()

    def _fire(self, conn) -> None:
        self.fired = True
        conn.interrupt()

    def cancel(self) -> None:
        self._timer.cancel()


def errors(ds, sql: str, *, reading: bool, deadline: _Deadline | None = None):
    def classify(exc: duckdb.Error) -> Failure:
        if isinstance(exc, duckdb.InterruptException) or deadline is not None and deadline.fired:
            return Failure("timeout")
        text = redact(str(exc).strip(), ds.connection_url)
        if reading and "read-only mode" in text:
            return Failure("read_only", text)
        if isinstance(exc, duckdb.PermissionException):
            return Failure("error", f"refused: this data source cannot reach other files, the network or its settings ({text})")
        return Failure("error", text)

    return mapped_errors(ds, sql, catch=duckdb.Error, classify=classify)


@contextmanager
def read(ds, sql: str, statements: tuple[Statement, ...]):
    conn = open_connection(ds)
    deadline = _Deadline(ds, conn)
    try:
        with errors(ds, sql, reading=True, deadline=deadline):
            conn.execute("BEGIN TRANSACTION")  # one snapshot for every statement of the call
            if not statements:
                yield [], iter(())
            for index, statement in enumerate(statements):
                cur = conn.execute(statement.sql)
                if index < len(statements) - 1:
                    while cur.fetchmany(FETCH_CHUNK):
                        pass
                    continue
                columns = [d[0] for d in cur.description] if cur.description else []
                yield columns, _rows(ds, sql, cur, deadline)
    finally:
        deadline.cancel()
        conn.close()


def _rows(ds, sql: str, cur, deadline) -> Iterator[tuple]:
    with errors(ds, sql, reading=True, deadline=deadline):
        while chunk := cur.fetchmany(FETCH_CHUNK):
            yield from chunk


def write(ds, sql: str, max_rows: int) -> RawResult:
    conn = open_connection(ds, write=True)
    deadline = _Deadline(ds, conn)
    try:
        with errors(ds, sql, reading=False, deadline=deadline):
            conn.execute("BEGIN TRANSACTION")
            try:
                cur = conn.execute(sql)  # the approved text, whole: DuckDB runs each statement in turn
                result = None
                if cur.description is not None:
                    result = ([d[0] for d in cur.description], cur.fetchmany(max_rows + 1))
                conn.execute("COMMIT")
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                raise
    finally:
        deadline.cancel()
        conn.close()
    if result is not None and result[0] == ["Count"]:  # INSERT/UPDATE/DELETE report rows changed
        return _write_result(None, int(result[1][0][0]) if result[1] else 0, max_rows)
    return _write_result(result, 0, max_rows)


def ping(ds) -> str:
    conn = open_connection(ds)
    try:
        with errors(ds, "SELECT version()", reading=True):
            return f"DuckDB {conn.execute('SELECT version()').fetchone()[0]}"
    finally:
        conn.close()


@contextmanager
def read_connection(ds):
    conn = open_connection(ds)
    deadline = _Deadline(ds, conn)
    try:
        with errors(ds, "", reading=True, deadline=deadline):
            yield conn
    finally:
        deadline.cancel()
        conn.close()
