"""Running SQL against a data source, and creating or changing data sources.

`run_sql` is the only door to a user's database: it classifies first, runs reads read-only and
capped, and runs anything else only with an approval for that exact text (the engine passes its
APPROVED Confirmation; the executor never learns what a confirmation is).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import islice

from django.core.exceptions import PermissionDenied

from config.identity import Principal

from .connections import RawResult, execute_write, open_read, ping
from .dsn import engine_from_url, redact
from .errors import NeedsConfirmation, SqlError
from .models import DataSource
from .sql_guard import Classification
from .sql_guard import classify as _classify
from .values import json_safe, unique_columns

log = logging.getLogger(__name__)

__all__ = [
    "NeedsConfirmation", "SqlError", "SqlResult", "Classification", "classify", "classify_for", "run_sql",
    "read_stream", "test_connection", "data_source_create", "data_source_update", "data_source_delete",
]


@dataclass
class SqlResult:
    columns: list[str]
    rows: list[dict]  # JSON-safe values, keyed by `columns`
    truncated: bool  # more rows existed than the data source's row_limit
    rowcount: int  # rows returned; for a write without result rows, rows affected

    def as_dict(self) -> dict:
        return asdict(self)


def classify(sql: str, *, dialect: str, actions: list[str] | tuple[str, ...] = ()) -> Classification:
    return _classify(sql, dialect=dialect, actions=actions)


def classify_for(data_source: DataSource, sql: str) -> Classification:
    return _classify(sql, dialect=data_source.engine, actions=data_source.actions or ())


def run_sql(data_source: DataSource, sql: str, *, approval=None) -> SqlResult:
    """Run `sql`. Reads run read-only; anything else raises NeedsConfirmation unless
    `approval.approves(sql)` is True, and then runs in a write transaction."""
    if not sql or not sql.strip():
        raise SqlError("no SQL statement to run")
    classification = classify_for(data_source, sql)
    approved = approval is not None and bool(approval.approves(sql))
    if approved:
        # The human approved this exact text; it may be a "read" the database refused read-only.
        raw = execute_write(data_source, sql, data_source.row_limit)
        log.info(
            "approved statement executed",
            extra={"data_source": str(data_source.id), "reason": classification.reason, "rowcount": raw.rowcount},
        )
        return _to_result(raw)
    if not classification.is_read:
        raise NeedsConfirmation(sql, classification.reason)
    limit = data_source.row_limit
    with open_read(data_source, sql, classification.statements) as (columns, rows):
        taken = list(islice(rows, limit + 1))
    return _to_result(RawResult(columns, taken[:limit], len(taken) > limit, min(len(taken), limit)))


@contextmanager
def read_stream(data_source: DataSource, sql: str, *, max_rows: int | None = None) -> Iterator[tuple[list[str], Iterator[dict]]]:
    """(columns, rows) for a read, streamed without holding every row (CSV exports). Writes raise
    NeedsConfirmation: exports never change data."""
    classification = classify_for(data_source, sql)
    if not classification.is_read:
        raise NeedsConfirmation(sql, classification.reason)
    with open_read(data_source, sql, classification.statements) as (columns, rows):
        names = unique_columns(columns)
        limited = rows if max_rows is None else islice(rows, max_rows)
        yield names, ({n: json_safe(v) for n, v in zip(names, row)} for row in limited)


def _to_result(raw: RawResult) -> SqlResult:
    names = unique_columns(raw.columns)
    rows = [{n: json_safe(v) for n, v in zip(names, row)} for row in raw.rows]
    return SqlResult(columns=names, rows=rows, truncated=raw.truncated, rowcount=raw.rowcount)


def test_connection(data_source: DataSource) -> tuple[bool, str]:
    """(True, "connected ...") or (False, a message safe to show)."""
    try:
        version = ping(data_source)
    except SqlError as exc:
        return False, exc.message
    except Exception as exc:  # an unexpected driver failure must still not leak the URL
        return False, f"could not connect to data source '{data_source.name}': {redact(str(exc), data_source.connection_url)}"
    return True, f"connected to data source '{data_source.name}' ({version})"


test_connection.__test__ = False  # not a pytest test, despite the name


# --- data sources --------------------------------------------------------------------------

_EDITABLE = ("name", "engine", "connection_url", "actions", "row_limit", "statement_timeout_s", "shared", "metadata")


def data_source_create(*, principal: Principal, name: str, connection_url: str, engine: str | None = None, **fields) -> DataSource:
    unknown = set(fields) - set(_EDITABLE)
    if unknown:
        raise TypeError(f"unknown data source fields: {', '.join(sorted(unknown))}")
    data_source = DataSource(
        name=name, connection_url=connection_url, engine=engine or engine_from_url(connection_url) or "", **fields
    )
    data_source.assign_owner(principal)
    data_source.full_clean()
    data_source.save()
    return data_source


def data_source_update(data_source: DataSource, *, principal: Principal, **fields) -> DataSource:
    """Change a data source; only its owner may (a shared source is usable, not editable, by others)."""
    if not data_source.is_owned_by(principal):
        raise PermissionDenied("only the data source's owner can change it")
    unknown = set(fields) - set(_EDITABLE)
    if unknown:
        raise TypeError(f"unknown data source fields: {', '.join(sorted(unknown))}")
    for key, value in fields.items():
        setattr(data_source, key, value)
    if "connection_url" in fields and "engine" not in fields:
        data_source.engine = engine_from_url(data_source.connection_url) or data_source.engine
    data_source.full_clean()
    data_source.save()
    return data_source


def data_source_delete(data_source: DataSource, *, principal: Principal) -> None:
    if not data_source.is_owned_by(principal):
        raise PermissionDenied("only the data source's owner can delete it")
    data_source.delete()
