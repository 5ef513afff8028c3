"""Uploaded files become a DuckDB data source owned by the uploader: one table per file (per sheet
for a workbook), column types inferred by DuckDB's own CSV/JSON/Parquet readers.

The files arrive on disk (Django spools uploads to temporary files); they are moved under the
upload directory, read by a DuckDB connection that may open only them (external access off,
configuration locked, as for every DuckDB source) and written into a new database file beside it,
which takes its final name only when every table is in. A failure removes everything it made: no
half-built file, no DataSource row. XLSX sheets are streamed row by row (openpyxl's read-only mode)
into a CSV that DuckDB reads like any other, so a workbook's types are inferred the same way.
"""

import csv
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from django.conf import settings
from django.db import transaction

from config.identity import Principal

from . import boundary
from .models import DataSource

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl", ".xlsx": "xlsx"}
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# Lines DuckDB samples to infer types: large enough that a column's late surprises are rare, and a
# wrong guess is still an error naming the line, never a silent truncation.
SNIFF_SAMPLE_ROWS = 100_000
# How much of a CSV each DuckDB thread reads at once: twice DuckDB's longest line (max_line_size,
# 2 MB), an eighth of its default (16 times it). Per thread and inside the memory limit, the default
# took 61 of the load's 128 MB on 2 threads; row groups need that room more.
CSV_BUFFER_BYTES = 4 * 1024 * 1024
Progress = Callable[[dict], None]


class UploadError(Exception):
    """A refusal that is safe to show: which file, what is wrong, and where (line/column) if known."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_upload", **where):
        super().__init__(message)
        self.message, self.status, self.code, self.where = message, status, code, where


@dataclass
class IncomingFile:
    name: str  # as the client named it
    path: Path  # where it already is on disk (moved into the staging folder)
    size: int


@dataclass
class LoadedTable:
    name: str
    source: str  # the file (and sheet) it came from
    rows: int
    columns: list[str] = field(default_factory=list)


def upload_dir() -> Path:
    """Where uploaded sources live: QUERENT_UPLOAD_DIR, else `uploads` in the first data directory
    (so the SQLite/DuckDB path policy of the trust boundary admits them)."""
    configured = getattr(settings, "UPLOAD_DIR", "") or ""
    folder = Path(configured) if configured else boundary.sqlite_roots()[0] / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


def staging_dir() -> Path:
    folder = upload_dir() / ".incoming"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def file_format(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise UploadError(
            f"{name}: unsupported file type {suffix or '(none)'}; upload CSV, TSV, Parquet, JSON lines or XLSX",
            status=415, code="unsupported_file_type",
        )
    return FORMATS[suffix]


def table_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W+", "_", Path(name).stem.lower()).strip("_") or "data"
    if base[0].isdigit():
        base = f"t_{base}"
    candidate, n = base[:60], 2
    while candidate in taken:
        candidate, n = f"{base[:56]}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# --- the load ------------------------------------------------------------------------------


def build_database(files: list[IncomingFile], target: Path, progress: Progress) -> list[LoadedTable]:
    """Every file's tables into a new DuckDB file at `target` (which must not exist yet)."""
    work = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    extra: list[Path] = []  # CSVs made from workbook sheets
    taken: set[str] = set()
    sources: list[tuple[str, str, Path, str]] = []  # (table, label, path, format)
    try:
        for incoming in files:
            kind = file_format(incoming.name)
            if kind == "xlsx":
                for sheet, csv_path in _sheets_as_csv(incoming, progress):
                    extra.append(csv_path)
                    sources.append((table_name(sheet, taken), f"{incoming.name} [{sheet}]", csv_path, "csv"))
            else:
                sources.append((table_name(incoming.name, taken), incoming.name, incoming.path, kind))
        conn = duckdb.connect(str(work), config=dict(_CONFIG))
        try:
            # Bounded memory whatever the file's size: DuckDB writes to the new file as it goes.
            conn.execute(f"SET memory_limit = '{int(settings.UPLOAD_MEMORY_MB)}MB'")
            conn.execute(f"SET threads = {max(1, int(settings.UPLOAD_THREADS))}")  # memory grows per thread
            conn.execute("SET preserve_insertion_order = false")
            conn.execute("SET allowed_paths = ?", [[str(p) for _, _, p, _ in sources]])
            conn.execute("SET enable_external_access = false")  # the uploaded files, nothing else
            conn.execute("SET lock_configuration = true")
            tables = [_load_one(conn, table, label, path, kind, progress, index, len(sources))
                      for index, (table, label, path, kind) in enumerate(sources)]
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        os.replace(work, target)
        return tables
    finally:
        for leftover in [work, work.with_name(work.name + ".wal"), *extra]:
            leftover.unlink(missing_ok=True)


def _load_one(conn, table: str, label: str, path: Path, kind: str, progress: Progress, index: int, count: int) -> LoadedTable:
    progress({"stage": "loading", "table": table, "file": label, "percent": 0.0, "index": index, "count": count})
    reader = _reader(path, kind)
    try:
        _run_with_progress(conn, f"CREATE TABLE {_ident(table)} AS SELECT * FROM {reader}",
                           lambda pct: progress({"stage": "loading", "table": table, "file": label, "percent": pct,
                                                 "index": index, "count": count}))
    except duckdb.OutOfMemoryException:
        raise UploadError(
            f"{label}: loading it needs more memory than uploads may use (QUERENT_UPLOAD_MEMORY_MB); nothing was created",
            status=503, code="upload_out_of_memory",
        ) from None
    except duckdb.Error as exc:
        if kind in ("csv", "tsv") and _is_encoding_error(exc):
            # Not UTF-8: read the bytes as Latin-1 (every byte is a character there), never dropped.
            conn.execute(f"DROP TABLE IF EXISTS {_ident(table)}")
            try:
                conn.execute(f"CREATE TABLE {_ident(table)} AS SELECT * FROM {_reader(path, kind, encoding='latin-1')}")
            except duckdb.Error as again:
                raise _malformed(label, again, path if kind in ("csv", "tsv") else None) from None
        else:
            raise _malformed(label, exc, path if kind in ("csv", "tsv") else None) from None
    rows = conn.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()[0]
    columns = [r[0] for r in conn.execute(f"DESCRIBE {_ident(table)}").fetchall()]
    if not columns:
        raise UploadError(f"{label}: no columns found", code="empty_file")
    progress({"stage": "loaded", "table": table, "file": label, "rows": rows, "index": index, "count": count})
    return LoadedTable(table, label, rows, columns)


def _reader(path: Path, kind: str, encoding: str | None = None) -> str:
    file = _literal(path)
    if kind in ("csv", "tsv"):
        delimiter = "\\t" if kind == "tsv" else _delimiter(path)
        # The delimiter is decided first: DuckDB's sniffer, meeting a line with too many fields in
        # its sample, would rather read the whole file as one column than report the line.
        options = [f"sample_size = {SNIFF_SAMPLE_ROWS}", "header = true", "strict_mode = true", "skip = 0",
                   f"delim = '{delimiter}'", f"buffer_size = {CSV_BUFFER_BYTES}"]
        if encoding:
            options.append(f"encoding = '{encoding}'")
        return f"read_csv({file}, {', '.join(options)})"
    if kind == "parquet":
        return f"read_parquet({file})"
    return f"read_json({file}, format = 'newline_delimited')"


def _delimiter(path: Path) -> str:
    """The delimiter of a CSV, from its first 64 kB (comma unless it is clearly ';', '|' or a tab)."""
    with path.open("rb") as fh:
        sample = fh.read(65536).decode("latin-1")
    sample = sample[: sample.rfind("\n") + 1] or sample  # whole lines only
    try:
        found = csv.Sniffer().sniff(sample, delimiters=",;|\t").delimiter
    except csv.Error:
        return ","
    return "\\t" if found == "\t" else found


def _run_with_progress(conn, sql: str, report: Callable[[float], None]) -> None:
    """Run `sql`, reporting DuckDB's own progress estimate (query_progress) about four times a second."""
    done = threading.Event()
    failure: list[BaseException] = []

    def work():
        try:
            conn.execute(sql)
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    last = -1.0
    while not done.wait(0.25):
        try:
            percent = float(conn.query_progress())
        except duckdb.Error:
            continue
        if percent >= 0 and percent - last >= 1:
            report(round(min(percent, 99.0), 1))
            last = percent
    worker.join()
    if failure:
        raise failure[0]


def _is_encoding_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "unicode" in text or "utf-8" in text or "utf8" in text or "encoding" in text


_LINE = re.compile(r"(?:line|row)[: ]+(\d+)", re.I)
_COLUMN = re.compile(r'column[: ]+"?([^"\n,]+?)"?(?:\s|,|$)', re.I)


def _malformed(label: str, exc: Exception, csv_path: Path | None = None) -> UploadError:
    """DuckDB's reason, first lines only, with the line and column it names pulled out for the
    client. When DuckDB names no line (its sniffer gave up), the CSV is read once more to find the
    first line whose field count differs from the header's."""
    text = str(exc).strip()
    first = " ".join(line.strip() for line in text.splitlines()[:3] if line.strip())
    line = _LINE.search(text)
    column = _COLUMN.search(text)
    where = {}
    if line and "sniffing" not in text.lower():
        where["line"] = int(line.group(1))
    if column:
        where["column"] = column.group(1).strip()
    if "line" not in where and csv_path is not None:
        found = _first_ragged_line(csv_path)
        if found:
            where["line"], fields, expected = found
            first = f"line {where['line']} has {fields} fields where the header has {expected}"
    place = f" (line {where['line']})" if "line" in where else ""
    return UploadError(f"{label}: the file could not be read as a table{place}: {first[:400]}", code="malformed_file", **where)


def _first_ragged_line(path: Path) -> tuple[int, int, int] | None:
    """(line number, fields, header fields) of the first row whose width differs from the header."""
    delimiter = _delimiter(path).replace("\\t", "\t")
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            return None
        for row in reader:
            if row and len(row) != len(header):
                return reader.line_num, len(row), len(header)
    return None


# --- workbooks -----------------------------------------------------------------------------


def _sheets_as_csv(incoming: IncomingFile, progress: Progress):
    """(sheet name, CSV path) per non-empty sheet, streamed; the values the workbook shows
    (cached formula results), formulas never evaluated."""
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(incoming.path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UploadError(f"{incoming.name}: not a readable XLSX workbook ({type(exc).__name__}: {str(exc)[:200]})",
                          code="malformed_file") from None
    produced = []
    try:
        for sheet in workbook.worksheets:
            out = incoming.path.with_name(f"{incoming.path.name}.{len(produced)}.csv")
            rows = 0
            with out.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                for row in sheet.iter_rows(values_only=True):
                    if row is None or all(value is None for value in row):
                        continue
                    writer.writerow(["" if value is None else _cell(value) for value in row])
                    rows += 1
                    if rows % 50_000 == 0:
                        progress({"stage": "reading", "file": f"{incoming.name} [{sheet.title}]", "rows": rows})
            if rows:
                produced.append((sheet.title, out))
            else:
                out.unlink(missing_ok=True)
    except Exception:
        for _, path in produced:
            path.unlink(missing_ok=True)
        raise
    finally:
        workbook.close()
    if not produced:
        raise UploadError(f"{incoming.name}: the workbook has no rows", code="empty_file")
    return produced


def _cell(value):
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return value


# --- the data source -----------------------------------------------------------------------


def create_upload_source(principal: Principal, files: list[IncomingFile], *, name: str = "", progress: Progress = lambda e: None) -> DataSource:
    """A DuckDB data source owned by `principal` with one table per file (per sheet), or an UploadError
    with nothing left behind. `files` are in the staging folder and are removed either way."""
    if not files:
        raise UploadError("no file uploaded: send one or more files in the multipart field 'file'", code="no_file")
    for incoming in files:
        file_format(incoming.name)
    started = time.monotonic()
    target = upload_dir() / f"{uuid.uuid4()}.duckdb"
    try:
        try:
            boundary.duckdb_path(f"duckdb:///{target}")
        except boundary.Refused as exc:  # the operator's data directories do not include the upload folder
            raise UploadError(f"uploads are not configured: {exc.message}", status=503, code="uploads_unavailable") from None
        tables = build_database(files, target, progress)
        data_source = DataSource(
            name=(name or ", ".join(f.name for f in files))[:200], engine="duckdb", connection_url=f"duckdb:///{target}",
            metadata={"upload": {"files": [{"name": f.name, "bytes": f.size} for f in files],
                                 "tables": [{"name": t.name, "source": t.source, "rows": t.rows, "columns": t.columns}
                                            for t in tables]}},
        )
        data_source.assign_owner(principal)
        data_source.full_clean()
        with transaction.atomic():
            data_source.save()
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        for incoming in files:
            incoming.path.unlink(missing_ok=True)
    rows = sum(t.rows for t in tables)
    log.info("upload loaded", extra={"data_source": str(data_source.id), "tables": len(tables), "rows": rows,
                                     "seconds": round(time.monotonic() - started, 3)})
    progress({"stage": "done", "data_source_id": str(data_source.id), "rows": rows})
    return data_source


def stage(uploaded) -> IncomingFile:
    """A Django UploadedFile moved (or copied in chunks) into the staging folder: never read whole."""
    name = Path(uploaded.name or "upload").name[:200] or "upload"
    file_format(name)
    target = staging_dir() / f"{uuid.uuid4().hex}{Path(name).suffix.lower()}"
    temporary = getattr(uploaded, "temporary_file_path", None)
    if temporary is not None:
        try:
            shutil.move(temporary(), target)
            return IncomingFile(name, target, target.stat().st_size)
        except OSError:
            pass
    with target.open("wb") as out:
        for chunk in uploaded.chunks():
            out.write(chunk)
    return IncomingFile(name, target, target.stat().st_size)


def remove_upload_file(data_source: DataSource) -> None:
    """An uploaded source's database file, removed with its row (only files in the upload folder)."""
    if not (data_source.metadata or {}).get("upload") or data_source.engine != "duckdb":
        return
    try:
        path = boundary.duckdb_path(data_source.connection_url)
    except boundary.Refused:
        return
    if path.parent == upload_dir():
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
