"""The schema scan (`sync-schemas`): per table its columns, types, keys, row count, the distinct
values of low-cardinality columns and a few sample rows, saved table by table.

Runs in a worker (executor.tasks). One read-only connection with the data source's time limit;
each table is read inside its own savepoint where the engine has them, so a table that cannot be
read (a broken view, a permission, the time limit) is recorded as FAILED with the database's
message and the scan goes on. If the connection itself is lost, the tables not reached yet are
recorded as FAILED with that reason: nothing already scanned is lost, and `refresh` scans again.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from sqlglot import exp

from ..errors import SqlError
from ..values import json_safe
from .models import ContextState, TableDescription
from .services import DIALECTS

log = logging.getLogger(__name__)

SAMPLE_ROWS = 3
SAMPLE_CHARS = 100
EXACT_COUNT_BELOW = 1_000_000  # larger tables keep the planner's estimate: counting them is a full scan
_TEXT_TYPES = ("char", "text", "string", "enum", "citext", "name")


class ConnectionLost(Exception):
    pass


class _Reader:
    """Runs one table's queries: a raw read-only connection for PostgreSQL and SQLite, the SQL guard's
    run_sql (one connection per query) for engines without one here."""

    def __init__(self, data_source, conn):
        self.data_source, self.conn = data_source, conn
        self.dialect = DIALECTS.get(data_source.engine, data_source.engine)

    def quote(self, *parts: str | None) -> str:
        return ".".join(exp.to_identifier(p, quoted=True).sql(dialect=self.dialect) for p in parts if p)

    def rows(self, sql: str) -> tuple[list[str], list[tuple]]:
        if self.conn is None:
            from ..services import run_sql

            found = run_sql(self.data_source, sql)
            return found.columns, [tuple(r[c] for c in found.columns) for r in found.rows]
        cur = self.conn.cursor()
        try:
            cur.execute(sql)
            if cur.description is None:  # SAVEPOINT and friends
                return [], []
            return [d[0] for d in cur.description], cur.fetchall()
        finally:
            cur.close()

    @contextmanager
    def table(self):
        if self.data_source.engine != "postgresql" or self.conn is None:
            yield
            return
        self.rows("SAVEPOINT querent_scan")
        try:
            yield
        except Exception:
            if self.conn.closed or self.conn.broken:
                raise ConnectionLost("the connection to the database was lost") from None
            self.rows("ROLLBACK TO SAVEPOINT querent_scan")
            raise
        self.rows("RELEASE SAVEPOINT querent_scan")


@contextmanager
def _connection(data_source):
    from ..connections import pg_read_connection, sqlite_read_connection

    opener = {"postgresql": pg_read_connection, "sqlite": sqlite_read_connection}.get(data_source.engine)
    if opener is None:
        yield None
        return
    with opener(data_source) as conn:
        yield conn


def _is_text(type_name: str | None) -> bool:
    name = (type_name or "").lower()
    return name in ("", "any") or any(word in name for word in _TEXT_TYPES)


def _short(value):
    value = json_safe(value)
    if isinstance(value, str) and len(value) > SAMPLE_CHARS:
        return value[: SAMPLE_CHARS - 1] + "…"
    return value


def _scan_table(reader: _Reader, table: dict) -> dict:
    name = reader.quote(table.get("schema") if table.get("schema") not in ("main",) else None, table["name"])
    estimate = table.get("rows")
    if estimate is not None and estimate >= EXACT_COUNT_BELOW:
        row_count = estimate
    else:
        row_count = reader.rows(f"SELECT count(*) FROM {name}")[1][0][0]
    columns, sample = reader.rows(f"SELECT * FROM {name} LIMIT {SAMPLE_ROWS}")
    examples = [{c: _short(v) for c, v in zip(columns, row)} for row in sample]
    limit = settings.CONTEXT_LOW_CARDINALITY
    foreign = {}
    for fk in table.get("foreign_keys", []):
        target = fk["ref_table"] if fk.get("ref_schema") in (None, "public", "main") else f"{fk['ref_schema']}.{fk['ref_table']}"
        for col, ref in zip(fk["columns"], fk["ref_columns"]):
            foreign[col] = {"field_name": ref, "reference_table": target}
    described = []
    for column in table["columns"]:
        categories = None
        if row_count and _is_text(column.get("type")):
            quoted = reader.quote(column["name"])
            values = reader.rows(f"SELECT DISTINCT {quoted} FROM {name} WHERE {quoted} IS NOT NULL LIMIT {limit + 1}")[1]
            if len(values) <= limit:
                categories = sorted((str(_short(v[0])) for v in values), key=str)
        primary = table.get("primary_key") or []
        described.append({
            "name": column["name"], "data_type": column.get("type"), "is_primary_key": column["name"] in primary and len(primary) == 1,
            "foreign_key": foreign.get(column["name"]), "low_cardinality": categories is not None, "categories": categories,
            "description": column.get("comment") or "",
        })
    return {"row_count": row_count, "examples": examples, "columns": described}


def _save(data_source, table: dict, found: dict | None, error: str = "") -> None:
    key = {"data_source": data_source, "schema_name": table.get("schema") or "", "table_name": table["name"]}
    item = TableDescription.objects.filter(**key).first() or TableDescription(**key, description=table.get("comment") or "")
    item.kind = table.get("kind") or "table"
    item.last_schema_sync = timezone.now()
    if found is None:
        item.status, item.error_message = TableDescription.Status.FAILED, error[:2000]
    else:
        # What people wrote survives the scan; what the database says is taken fresh.
        notes = {c.get("name"): c for c in item.columns or []}
        for column in found["columns"]:
            note = notes.get(column["name"]) or {}
            if note.get("description"):
                column["description"] = note["description"]
        item.columns, item.examples, item.row_count = found["columns"], found["examples"], found["row_count"]
        item.status, item.error_message = TableDescription.Status.SYNCHRONIZED, ""
    item.save()


def _placeholders(data_source, tables: list[dict]) -> None:
    """Every table about to be scanned shows as SYNCHRONIZING from the start, so a client polling
    the list sees the whole scan's progress, not only the tables done so far."""
    known = set(TableDescription.objects.filter(data_source=data_source).values_list("schema_name", "table_name"))
    new = [
        TableDescription(data_source=data_source, schema_name=t.get("schema") or "", table_name=t["name"], kind=t.get("kind") or "table",
                         description=t.get("comment") or "", status=TableDescription.Status.SYNCHRONIZING)
        for t in tables if (t.get("schema") or "", t["name"]) not in known
    ]
    TableDescription.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
    names = [t["name"] for t in tables]
    for start in range(0, len(names), 500):
        TableDescription.objects.filter(data_source=data_source, table_name__in=names[start:start + 500]).update(
            status=TableDescription.Status.SYNCHRONIZING
        )


def scan(data_source, table_names: list[str] | None = None) -> ContextState:
    """Scan the data source (or only `table_names`) and record each table's outcome."""
    from ..schema import introspect

    state, _ = ContextState.objects.get_or_create(data_source=data_source)
    ContextState.objects.filter(pk=data_source.pk).update(
        scan_status=ContextState.ScanStatus.RUNNING, scan_started_at=timezone.now(), scan_finished_at=None,
        scan_tables_done=0, scan_tables_failed=0, scan_error="",
    )
    failed_all = None
    try:
        tables = introspect(data_source)["tables"]
    except SqlError as exc:
        tables, failed_all = [], exc.message
    wanted = set(table_names or [])
    if wanted:
        known = {t["name"] for t in tables} | {f"{t.get('schema')}.{t['name']}" for t in tables}
        for missing in sorted(wanted - known):
            TableDescription.objects.filter(data_source=data_source, table_name=missing).update(
                status=TableDescription.Status.FAILED, error_message="the table was not found in the database"
            )
        tables = [t for t in tables if t["name"] in wanted or f"{t.get('schema')}.{t['name']}" in wanted]
    ContextState.objects.filter(pk=data_source.pk).update(scan_tables_total=len(tables))
    _placeholders(data_source, tables)
    lost = None
    if failed_all is None:
        try:
            with _connection(data_source) as conn:
                reader = _Reader(data_source, conn)
                for table in tables:
                    if lost:
                        _save(data_source, table, None, lost)
                        ContextState.objects.filter(pk=data_source.pk).update(scan_tables_failed=F("scan_tables_failed") + 1)
                        continue
                    try:
                        with reader.table():
                            found = _scan_table(reader, table)
                    except ConnectionLost as exc:
                        lost = f"not scanned: {exc}"
                        _save(data_source, table, None, str(exc))
                        ContextState.objects.filter(pk=data_source.pk).update(scan_tables_failed=F("scan_tables_failed") + 1)
                        continue
                    except Exception as exc:  # noqa: BLE001 - the database's reason, kept on the table
                        message = getattr(exc, "message", None) or str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                        _save(data_source, table, None, message)
                        ContextState.objects.filter(pk=data_source.pk).update(scan_tables_failed=F("scan_tables_failed") + 1)
                        continue
                    _save(data_source, table, found)
                    ContextState.objects.filter(pk=data_source.pk).update(scan_tables_done=F("scan_tables_done") + 1)
        except SqlError as exc:  # connecting failed, or the connection broke outside a table
            failed_all = exc.message
        except Exception as exc:  # noqa: BLE001 - e.g. closing a connection the server already dropped
            if not lost:
                failed_all = f"the scan stopped: {type(exc).__name__}"
    if failed_all:
        scanned = {t["name"] for t in tables if TableDescription.objects.filter(
            data_source=data_source, table_name=t["name"], status=TableDescription.Status.SYNCHRONIZED,
            last_schema_sync__gte=state.scan_started_at or timezone.now()).exists()}
        for table in tables:
            if table["name"] not in scanned:
                _save(data_source, table, None, failed_all)
        TableDescription.objects.filter(data_source=data_source, status=TableDescription.Status.SYNCHRONIZING).update(
            status=TableDescription.Status.FAILED, error_message=failed_all[:2000]
        )
    elif not wanted:
        present = {(t.get("schema") or "", t["name"]) for t in tables}
        for item in TableDescription.objects.filter(data_source=data_source).exclude(status=TableDescription.Status.DEPRECATED):
            if (item.schema_name, item.table_name) not in present:
                item.status, item.error_message = TableDescription.Status.DEPRECATED, "no longer in the database"
                item.save(update_fields=["status", "error_message", "updated_at"])
    state = ContextState.objects.get(pk=data_source.pk)
    state.scan_status = ContextState.ScanStatus.FAILED if (failed_all or lost or state.scan_tables_failed) else ContextState.ScanStatus.DONE
    state.scan_error = (failed_all or lost or "")[:2000]
    state.scan_finished_at = timezone.now()
    state.version += 1
    state.save(update_fields=["scan_status", "scan_error", "scan_finished_at", "version"])
    return state
