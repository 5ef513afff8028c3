"""What is in a data source: tables, columns, keys, a few sample values; and a compact prompt text.

Introspection runs read-only with the data source's own limits. Its result is kept on the row
(`schema_cache`, keyed by the connection fingerprint, refreshed after SCHEMA_CACHE_TTL_S) so every
web and worker process shares it and a prompt never waits on the user's database twice.
The summary is bounded by `max_chars` however many tables there are: tables are ranked (question
words, foreign-key links, size), the best come first, the rest are named or counted.
"""

import logging
import math
import re
import threading
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from psycopg import sql as pgsql

from .connections import pg_read_connection, sqlite_read_connection
from .errors import SqlError
from .values import json_safe

log = logging.getLogger(__name__)

SAMPLE_VALUES = 3  # distinct values kept per text column
SAMPLE_SCAN_ROWS = 200  # rows read per table to find them: cheap whatever the table's size
SAMPLE_MAX_CHARS = 40
SAMPLE_MAX_COLUMNS = 8


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- introspection -------------------------------------------------------------------------


def introspect(data_source) -> dict:
    """Live introspection: {engine, tables: [{schema, name, kind, rows, comment, columns, primary_key,
    foreign_keys}], functions, truncated}. Raises SqlError when the source cannot be read."""
    if data_source.engine == "postgresql":
        schema = _introspect_postgres(data_source)
    elif data_source.engine == "sqlite":
        schema = _introspect_sqlite(data_source)
    elif data_source.engine in ("mysql", "duckdb"):
        from . import schema_engines

        introspect_engine = getattr(schema_engines, f"introspect_{data_source.engine}")
        schema = introspect_engine(
            data_source, _setting("SCHEMA_MAX_TABLES", 1000), _setting("SCHEMA_SAMPLE_TABLES", 50), _Samples
        )
    else:
        raise SqlError(f"cannot introspect engine {data_source.engine!r}")
    schema["engine"] = data_source.engine
    schema["generated_at"] = timezone.now().isoformat()
    return schema


_PG_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relkind, greatest(c.reltuples, -1)::bigint, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname = 'public' DESC, n.nspname, c.relname
LIMIT %s
"""
_PG_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       col_description(a.attrelid, a.attnum), t.typcategory
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""
_PG_KEYS = """
SELECT con.conrelid, con.contype, con.conkey, con.confrelid, con.confkey,
       fn.nspname, fc.relname
FROM pg_constraint con
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.conrelid = ANY(%s) AND con.contype IN ('p', 'f')
ORDER BY con.conrelid, con.conname
"""
_PG_FUNCTIONS = """
SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid), obj_description(p.oid, 'pg_proc')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE lower(p.proname) = ANY(%s) AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY p.proname
"""
_PG_TYPE_SHORT = [
    (re.compile(r"^character varying"), "varchar"),
    (re.compile(r"^character\b"), "char"),
    (re.compile(r"^timestamp(\(\d\))? without time zone"), r"timestamp\1"),
    (re.compile(r"^timestamp(\(\d\))? with time zone"), r"timestamptz\1"),
    (re.compile(r"^time(\(\d\))? without time zone"), r"time\1"),
    (re.compile(r"^double precision"), "float8"),
    (re.compile(r"^integer"), "int"),
    (re.compile(r"^boolean"), "bool"),
]


def _short_pg_type(name: str) -> str:
    for pattern, replacement in _PG_TYPE_SHORT:
        name = pattern.sub(replacement, name)
    return name


def _introspect_postgres(ds) -> dict:
    max_tables = _setting("SCHEMA_MAX_TABLES", 1000)
    with pg_read_connection(ds) as conn, conn.cursor() as cur:
        cur.execute(_PG_TABLES, (max_tables + 1,))
        rows = cur.fetchall()
        truncated = len(rows) > max_tables
        tables, by_oid = [], {}
        kinds = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}
        for oid, nsp, name, kind, reltuples, comment in rows[:max_tables]:
            table = {
                "schema": nsp, "name": name, "kind": kinds[kind], "rows": reltuples if reltuples >= 0 else None,
                "comment": comment, "columns": [], "primary_key": [], "foreign_keys": [],
            }
            tables.append(table)
            by_oid[oid] = table
        oids = list(by_oid)
        attnames: dict[tuple[int, int], str] = {}
        text_columns: dict[int, list[str]] = {}
        cur.execute(_PG_COLUMNS, (oids,))
        for relid, attnum, name, type_name, notnull, comment, category in cur.fetchall():
            attnames[(relid, attnum)] = name
            column = {"name": name, "type": _short_pg_type(type_name), "nullable": not notnull}
            if comment:
                column["comment"] = comment
            by_oid[relid]["columns"].append(column)
            if category in ("S", "E"):  # strings and enums: the values an analyst filters on
                text_columns.setdefault(relid, []).append(name)
        cur.execute(_PG_KEYS, (oids,))
        for relid, contype, conkey, confrelid, confkey, ref_schema, ref_table in cur.fetchall():
            columns = [attnames.get((relid, k), "?") for k in conkey or []]
            if contype == "p":
                by_oid[relid]["primary_key"] = columns
            else:
                ref_columns = [attnames.get((confrelid, k)) for k in confkey or []]
                if None in ref_columns:  # target outside what we listed: ask for the names
                    cur.execute(
                        "SELECT attnum, attname FROM pg_attribute WHERE attrelid = %s AND attnum = ANY(%s)",
                        (confrelid, list(confkey)),
                    )
                    found = dict(cur.fetchall())
                    ref_columns = [found.get(k, "?") for k in confkey]
                by_oid[relid]["foreign_keys"].append(
                    {"columns": columns, "ref_schema": ref_schema, "ref_table": ref_table, "ref_columns": ref_columns}
                )
        functions = []
        actions = [a.lower() for a in (ds.actions or [])]
        if actions:
            cur.execute(_PG_FUNCTIONS, (actions,))
            functions = [
                {"name": n, "arguments": args, "returns": result, "comment": comment, "action": True}
                for n, args, result, comment in cur.fetchall()
            ]
        _pg_samples(cur, tables, by_oid, text_columns)
    return {"tables": tables, "functions": functions, "truncated": truncated}


def _pg_samples(cur, tables, by_oid, text_columns) -> None:
    budget = _setting("SCHEMA_SAMPLE_TABLES", 50)
    ranked = [t for t in rank_tables(tables) if t["kind"] == "table"][:budget]
    wanted = {id(t) for t in ranked}
    for oid, table in by_oid.items():
        names = text_columns.get(oid, [])[:SAMPLE_MAX_COLUMNS]
        if id(table) not in wanted or not names:
            continue
        query = pgsql.SQL("SELECT {} FROM {}.{} LIMIT {}").format(
            pgsql.SQL(", ").join(map(pgsql.Identifier, names)),
            pgsql.Identifier(table["schema"]),
            pgsql.Identifier(table["name"]),
            pgsql.Literal(SAMPLE_SCAN_ROWS),
        )
        cur.execute("SAVEPOINT querent_sample")  # one unreadable table must not end the transaction
        try:
            cur.execute(query)
            _attach_samples(table, names, cur.fetchall())
            cur.execute("RELEASE SAVEPOINT querent_sample")
        except Exception as exc:  # permissions, a broken view, the time limit
            log.info("schema sample skipped for a table: %s", type(exc).__name__)
            cur.execute("ROLLBACK TO SAVEPOINT querent_sample")


class _Samples:
    """How the other engines' introspection picks and keeps sample values (the same rules as here).
    DuckDB folders are views over files, cheap to sample: views count there."""

    max_columns = SAMPLE_MAX_COLUMNS
    scan_rows = SAMPLE_SCAN_ROWS

    @staticmethod
    def pick(tables: list[dict], budget: int) -> list[dict]:
        return [t for t in rank_tables(tables) if t["kind"] in ("table", "view")][:budget]

    @staticmethod
    def attach(table: dict, names: list[str], rows: list[tuple]) -> None:
        _attach_samples(table, names, rows)


def _attach_samples(table: dict, names: list[str], rows: list[tuple]) -> None:
    columns = {c["name"]: c for c in table["columns"]}
    for index, name in enumerate(names):
        seen: list = []
        for row in rows:
            value = row[index]
            if value is None or value == "":
                continue
            value = json_safe(value)
            if isinstance(value, str) and len(value) > SAMPLE_MAX_CHARS:
                value = value[: SAMPLE_MAX_CHARS - 1] + "…"
            if value not in seen:
                seen.append(value)
            if len(seen) >= SAMPLE_VALUES:
                break
        if seen and name in columns:
            columns[name]["samples"] = seen


def _sqlite_is_text(declared: str) -> bool:
    declared = (declared or "").upper()
    return any(word in declared for word in ("CHAR", "CLOB", "TEXT")) or declared == ""


def _introspect_sqlite(ds) -> dict:
    max_tables = _setting("SCHEMA_MAX_TABLES", 1000)
    with sqlite_read_connection(ds) as conn:
        rows = conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name LIMIT ?",
            (max_tables + 1,),
        ).fetchall()
        truncated = len(rows) > max_tables
        estimates = {}
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            for tbl, stat in conn.execute("SELECT tbl, stat FROM sqlite_stat1"):
                first = (stat or "").split(" ")[0]
                if first.isdigit():
                    estimates[tbl] = max(estimates.get(tbl, 0), int(first))
        tables = []
        for name, kind in rows[:max_tables]:
            quoted = '"' + name.replace('"', '""') + '"'
            info = conn.execute(f"PRAGMA table_info({quoted})").fetchall()
            columns = [
                {"name": col, "type": (ctype or "").lower() or "any", "nullable": not notnull and not pk}
                for _, col, ctype, notnull, _, pk in info
            ]
            primary_key = [col for _, col, _, _, _, pk in sorted(info, key=lambda r: r[5]) if pk]
            fks: dict[int, dict] = {}
            for fk_id, _, ref_table, from_col, to_col, *_ in conn.execute(f"PRAGMA foreign_key_list({quoted})"):
                entry = fks.setdefault(fk_id, {"columns": [], "ref_schema": None, "ref_table": ref_table, "ref_columns": []})
                entry["columns"].append(from_col)
                entry["ref_columns"].append(to_col)
            tables.append(
                {
                    "schema": None, "name": name, "kind": kind, "rows": estimates.get(name), "comment": None,
                    "columns": columns, "primary_key": primary_key, "foreign_keys": list(fks.values()),
                    "_text": [c for _, c, t, *_ in info if _sqlite_is_text(t)][:SAMPLE_MAX_COLUMNS],
                }
            )
        _resolve_implicit_fk_targets(tables)
        budget = _setting("SCHEMA_SAMPLE_TABLES", 50)
        for table in [t for t in rank_tables(tables) if t["kind"] == "table"][:budget]:
            names = table["_text"]
            if not names:
                continue
            quoted = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
            table_q = '"' + table["name"].replace('"', '""') + '"'
            try:
                _attach_samples(table, names, conn.execute(f"SELECT {quoted} FROM {table_q} LIMIT {SAMPLE_SCAN_ROWS}").fetchall())
            except Exception as exc:
                log.info("schema sample skipped for a table: %s", type(exc).__name__)
        for table in tables:
            table.pop("_text", None)
    functions = [{"name": a, "arguments": None, "returns": None, "comment": None, "action": True} for a in ds.actions or []]
    return {"tables": tables, "functions": functions, "truncated": truncated}


def _resolve_implicit_fk_targets(tables: list[dict]) -> None:
    """SQLite `REFERENCES t` without columns means t's primary key."""
    keys = {t["name"]: t["primary_key"] for t in tables}
    for table in tables:
        for fk in table["foreign_keys"]:
            if any(c is None for c in fk["ref_columns"]):
                fk["ref_columns"] = keys.get(fk["ref_table"]) or ["?"] * len(fk["columns"])


# --- cache ---------------------------------------------------------------------------------


# Stored introspections this process has read, by (data source, connection fingerprint, refresh
# time): a run's load defers the schema column (a few KB of JSON per run) and takes it from here.
_REMEMBERED_SCHEMAS = 64
_remembered: dict[tuple, dict] = {}
_remembered_lock = threading.Lock()


def _introspection_key(data_source) -> tuple | None:
    """Which stored introspection the data source holds, as a memory key; None when it holds none
    that is stored (unsaved, or never introspected)."""
    if data_source.pk is None or data_source.schema_refreshed_at is None:
        return None
    return (data_source.pk, data_source.schema_fingerprint, data_source.schema_refreshed_at)


def _stored_schema(data_source) -> dict:
    """data_source.schema_cache, from memory when this process has read this same one before."""
    key = _introspection_key(data_source)
    schema = _remembered.get(key) if key else None
    if schema is None:
        schema = data_source.schema_cache  # read now if the load deferred it
        if schema and key:
            _remember(_remembered, key, schema)
    return schema


def _remember(memory: dict, key: tuple, value) -> None:
    """Keep `value` under `key`, forgetting the oldest entry beyond _REMEMBERED_SCHEMAS."""
    with _remembered_lock:
        if len(memory) >= _REMEMBERED_SCHEMAS:
            memory.pop(next(iter(memory)))
        memory[key] = value


def get_schema(data_source, *, refresh: bool = False) -> dict:
    """The cached introspection if fresh and for this connection; otherwise introspect and store.
    When the source cannot be reached, a stale cache for the same connection is better than none.
    The dict returned may be shared with other callers in the process: read it, do not change it."""
    ttl = _setting("SCHEMA_CACHE_TTL_S", 3600)
    same_connection = data_source.schema_fingerprint == data_source.connection_fingerprint
    fresh = (
        same_connection
        and data_source.schema_refreshed_at is not None
        and timezone.now() - data_source.schema_refreshed_at < timedelta(seconds=ttl)
    )
    if fresh and not refresh:
        stored = _stored_schema(data_source)
        if stored:
            return stored
    try:
        schema = introspect(data_source)
    except SqlError:
        stored = _stored_schema(data_source) if same_connection else None
        if stored:
            log.warning("schema introspection failed; serving the cached schema", extra={"data_source": str(data_source.id)})
            return stored
        raise
    if not data_source._state.adding:
        data_source.store_schema(schema, timezone.now())
    return schema


# --- the prompt summary --------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    words = set()
    for word in _WORD.findall((text or "").lower().replace("_", " ")):
        words.add(word)
        if len(word) > 3 and word.endswith("s"):
            words.add(word[:-1])  # "customers" finds customer
    return words


def _qualified(table: dict) -> str:
    schema = table.get("schema")
    return table["name"] if schema in (None, "public", "main") else f"{schema}.{table['name']}"


def rank_tables(tables: list[dict], question: str | None = None) -> list[dict]:
    """Most relevant first: question words in table/column names, then foreign-key links, then size."""
    degree: dict[str, int] = {}
    for table in tables:
        for fk in table["foreign_keys"]:
            degree[table["name"]] = degree.get(table["name"], 0) + 1
            degree[fk["ref_table"]] = degree.get(fk["ref_table"], 0) + 1
    asked = _words(question or "")

    def score(table: dict) -> tuple:
        hits = 0
        if asked:
            hits = 3 * len(asked & _words(table["name"])) + len(
                asked & set().union(*(_words(c["name"]) for c in table["columns"])) if table["columns"] else set()
            )
        rows = table.get("rows") or 0
        return (-hits, -(degree.get(table["name"], 0) * 2 + math.log10(rows + 1)), table["name"])

    return sorted(tables, key=score)


def _column_text(column: dict, table: dict, fk_by_column: dict, with_samples: bool) -> str:
    parts = [column["name"], column["type"]]
    if column["name"] in table["primary_key"] and len(table["primary_key"]) == 1:
        parts.append("PK")
    if column["name"] in fk_by_column:
        parts.append("->" + fk_by_column[column["name"]])
    text = " ".join(parts)
    if with_samples and column.get("samples"):
        text += " e.g. " + "|".join(str(v) for v in column["samples"])
    return text


def _table_line(table: dict, *, with_samples: bool, max_len: int) -> str:
    fk_by_column = {}
    for fk in table["foreign_keys"]:
        target = fk["ref_table"] if fk.get("ref_schema") in (None, "public", "main") else f"{fk['ref_schema']}.{fk['ref_table']}"
        for col, ref_col in zip(fk["columns"], fk["ref_columns"]):
            fk_by_column[col] = f"{target}.{ref_col}"
    head = _qualified(table)
    notes = []
    if table["kind"] != "table":
        notes.append(table["kind"])
    if table.get("rows") is not None:
        notes.append(f"~{table['rows']} rows")
    if len(table["primary_key"]) > 1:
        notes.append("PK (" + ", ".join(table["primary_key"]) + ")")
    if notes:
        head += " [" + ", ".join(notes) + "]"
    if table.get("comment"):
        head += " -- " + table["comment"].splitlines()[0][:120]
    pieces = [_column_text(c, table, fk_by_column, with_samples) for c in table["columns"]]
    line = head + ": "
    for index, piece in enumerate(pieces):
        rest = len(pieces) - index
        candidate = line + ("; " if index else "") + piece
        if len(candidate) > max_len and index:
            return line + f"; ... +{rest} more columns"
        line = candidate
    return line


def render_summary(schema: dict, max_chars: int = 6000, *, question: str | None = None, name: str | None = None) -> str:
    """Compact text for a prompt, never longer than `max_chars`."""
    tables = rank_tables(schema.get("tables", []), question)
    engine = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(schema.get("engine"), schema.get("engine") or "SQL")
    count = len(tables) if not schema.get("truncated") else f"{len(tables)}+"
    header = f"{engine} database{f' {name!r}' if name else ''}: {count} tables/views. Format: table [notes]: column type (PK, ->references, e.g. sample values)."
    lines = [header]
    actions = [f for f in schema.get("functions", []) if f.get("action")]
    if actions:
        described = []
        for fn in actions:
            signature = f"{fn['name']}({fn['arguments']})" if fn.get("arguments") is not None else fn["name"]
            if fn.get("returns"):
                signature += f" returns {fn['returns']}"
            if fn.get("comment"):
                signature += f" -- {fn['comment']}"
            described.append(signature)
        lines.append("Actions that change data (each call needs the user's approval): " + "; ".join(described))
    used = sum(len(line) + 1 for line in lines)
    footer_reserve = min(300, max_chars // 5)
    shown = 0
    per_table = max(300, max_chars // 4)
    for index, table in enumerate(tables):
        line = _table_line(table, with_samples=index < 15, max_len=per_table)
        last = index == len(tables) - 1
        budget = max_chars - used - (0 if last else footer_reserve)
        if len(line) + 1 > budget:
            line = _table_line(table, with_samples=False, max_len=per_table)
            if len(line) + 1 > budget:
                break
        lines.append(line)
        used += len(line) + 1
        shown += 1
    omitted = tables[shown:]
    if omitted:
        text = f"... {len(omitted)} more tables not shown: "
        room = max_chars - used - len(text) - 12
        names = []
        for table in omitted:
            piece = _qualified(table)
            if sum(len(n) + 2 for n in names) + len(piece) > room:
                names.append("...")
                break
            names.append(piece)
        lines.append(text + ", ".join(names))
    result = "\n".join(lines)
    return result if len(result) <= max_chars else result[: max_chars - 1] + "…"


_summaries: dict[tuple, str] = {}


def schema_summary(data_source, max_chars: int = 6000, *, question: str | None = None) -> str:
    """The prompt text for a data source (cached introspection); a short explanation if unreachable.
    Without a question it is the same text for every run until the schema changes: kept per process."""
    try:
        schema = get_schema(data_source)
    except SqlError as exc:
        return f"The schema of data source '{data_source.name}' is unavailable: {exc.message}"[:max_chars]
    introspection = _introspection_key(data_source)
    key = (*introspection, data_source.name, max_chars) if introspection and question is None else None
    if key in _summaries:
        return _summaries[key]
    summary = render_summary(schema, max_chars, question=question, name=data_source.name)
    if key:
        _remember(_summaries, key, summary)
    return summary
