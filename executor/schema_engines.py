"""Introspection of MySQL/MariaDB and DuckDB sources, in the shape executor.schema keeps for every engine."""

import logging

from . import conn_duckdb, conn_mysql

log = logging.getLogger(__name__)

_MYSQL_TABLES = """
SELECT table_name, table_type, table_rows, table_comment FROM information_schema.tables
WHERE table_schema = DATABASE() ORDER BY table_name LIMIT %s
"""
_MYSQL_COLUMNS = """
SELECT table_name, column_name, column_type, is_nullable, column_comment, data_type FROM information_schema.columns
WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position
"""
_MYSQL_KEYS = """
SELECT k.table_name, k.constraint_name, c.constraint_type, k.column_name, k.referenced_table_name, k.referenced_column_name
FROM information_schema.key_column_usage k
JOIN information_schema.table_constraints c
  ON c.constraint_schema = k.constraint_schema AND c.constraint_name = k.constraint_name AND c.table_name = k.table_name
WHERE k.table_schema = DATABASE() AND c.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
ORDER BY k.table_name, k.constraint_name, k.ordinal_position
"""
_MYSQL_ROUTINES = """
SELECT routine_name, routine_type, dtd_identifier, routine_comment FROM information_schema.routines
WHERE routine_schema = DATABASE() ORDER BY routine_name
"""
_MYSQL_TEXT = {"char", "varchar", "text", "tinytext", "mediumtext", "longtext", "enum", "set"}


def _mysql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def introspect_mysql(ds, max_tables: int, sample_tables: int, samples) -> dict:
    """samples(table, names, rows) attaches sample values; rank(tables) picks which tables get them."""
    with conn_mysql.read_connection(ds) as conn, conn.cursor() as cur:
        cur.execute(_MYSQL_TABLES, (max_tables + 1,))
        rows = cur.fetchall()
        tables, by_name, text = [], {}, {}
        for name, kind, estimate, comment in rows[:max_tables]:
            table = {"schema": None, "name": name, "kind": "view" if kind == "VIEW" else "table",
                     "rows": estimate, "comment": comment or None, "columns": [], "primary_key": [], "foreign_keys": []}
            tables.append(table)
            by_name[name] = table
        cur.execute(_MYSQL_COLUMNS)
        for table_name, name, column_type, nullable, comment, data_type in cur.fetchall():
            if table_name not in by_name:
                continue
            column = {"name": name, "type": column_type, "nullable": nullable == "YES"}
            if comment:
                column["comment"] = comment
            by_name[table_name]["columns"].append(column)
            if data_type in _MYSQL_TEXT:
                text.setdefault(table_name, []).append(name)
        cur.execute(_MYSQL_KEYS)
        foreign: dict[tuple, dict] = {}
        for table_name, constraint, kind, column, ref_table, ref_column in cur.fetchall():
            if table_name not in by_name:
                continue
            if kind == "PRIMARY KEY":
                by_name[table_name]["primary_key"].append(column)
                continue
            key = (table_name, constraint)
            if key not in foreign:
                foreign[key] = {"columns": [], "ref_schema": None, "ref_table": ref_table, "ref_columns": []}
                by_name[table_name]["foreign_keys"].append(foreign[key])
            foreign[key]["columns"].append(column)
            foreign[key]["ref_columns"].append(ref_column)
        actions = {a.lower() for a in ds.actions or []}
        functions = []
        if actions:
            cur.execute(_MYSQL_ROUTINES)
            functions = [
                {"name": name, "arguments": None, "returns": returns if kind == "FUNCTION" else None,
                 "comment": comment or None, "action": True}
                for name, kind, returns, comment in cur.fetchall() if name.lower() in actions
            ]
        for table in samples.pick(tables, sample_tables):
            names = text.get(table["name"], [])[: samples.max_columns]
            if not names:
                continue
            try:
                cur.execute(f"SELECT {', '.join(map(_mysql_ident, names))} FROM {_mysql_ident(table['name'])} "
                            f"LIMIT {int(samples.scan_rows)}")
                samples.attach(table, names, cur.fetchall())
            except Exception as exc:  # a broken view, the time limit: the schema still stands
                log.info("schema sample skipped for a table: %s", type(exc).__name__)
    return {"tables": tables, "functions": functions, "truncated": len(rows) > max_tables}


_DUCK_TABLES = """
SELECT * FROM (
    SELECT schema_name, table_name, 'table', estimated_size, comment FROM duckdb_tables() WHERE NOT internal
    UNION ALL
    SELECT schema_name, view_name, 'view', NULL, comment FROM duckdb_views() WHERE NOT internal
) t (schema_name, name, kind, estimate, comment)
ORDER BY schema_name = 'main' DESC, schema_name, name LIMIT ?
"""
_DUCK_COLUMNS = """
SELECT schema_name, table_name, column_name, data_type, is_nullable, comment FROM duckdb_columns() WHERE NOT internal
ORDER BY schema_name, table_name, column_index
"""
_DUCK_KEYS = """
SELECT schema_name, table_name, constraint_type, constraint_column_names, referenced_table, referenced_column_names
FROM duckdb_constraints() WHERE constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
"""


def _duck_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def introspect_duckdb(ds, max_tables: int, sample_tables: int, samples) -> dict:
    with conn_duckdb.read_connection(ds) as conn:
        rows = conn.execute(_DUCK_TABLES, [max_tables + 1]).fetchall()
        tables, by_name, text = [], {}, {}
        for schema, name, kind, estimate, comment in rows[:max_tables]:
            table = {"schema": None if schema == "main" else schema, "name": name, "kind": kind, "rows": estimate,
                     "comment": comment or None, "columns": [], "primary_key": [], "foreign_keys": []}
            tables.append(table)
            by_name[(schema, name)] = table
        for schema, table_name, name, data_type, nullable, comment in conn.execute(_DUCK_COLUMNS).fetchall():
            table = by_name.get((schema, table_name))
            if table is None:
                continue
            column = {"name": name, "type": data_type.lower(), "nullable": bool(nullable)}
            if comment:
                column["comment"] = comment
            table["columns"].append(column)
            if data_type == "VARCHAR":
                text.setdefault((schema, table_name), []).append(name)
        for schema, table_name, kind, columns, ref_table, ref_columns in conn.execute(_DUCK_KEYS).fetchall():
            table = by_name.get((schema, table_name))
            if table is None:
                continue
            if kind == "PRIMARY KEY":
                table["primary_key"] = list(columns)
            else:
                table["foreign_keys"].append({"columns": list(columns), "ref_schema": None, "ref_table": ref_table,
                                              "ref_columns": list(ref_columns or [])})
        for table in samples.pick(tables, sample_tables):
            key = (table["schema"] or "main", table["name"])
            names = text.get(key, [])[: samples.max_columns]
            if not names:
                continue
            try:
                cursor = conn.execute(f"SELECT {', '.join(map(_duck_ident, names))} FROM {_duck_ident(key[0])}."
                                      f"{_duck_ident(key[1])} LIMIT {int(samples.scan_rows)}")
                samples.attach(table, names, cursor.fetchall())
            except Exception as exc:
                log.info("schema sample skipped for a table: %s", type(exc).__name__)
    functions = [{"name": a, "arguments": None, "returns": None, "comment": None, "action": True} for a in ds.actions or []]
    return {"tables": tables, "functions": functions, "truncated": len(rows) > max_tables}
