"""Follow-up questions built from the data source's schema and the session's last result.

Only names that exist are used: columns of the tables the last query read (and the tables they
link to by foreign key) for breakdowns, the result's own dimension and measure for rankings.
"""

import re

import sqlglot
from sqlglot import exp

from .columns import TIME, label, profile

_NUMERIC_TYPE = re.compile(r"int|numeric|decimal|real|float|double|money|serial", re.I)
_TIME_TYPE = re.compile(r"date|time", re.I)
_TEXT_TYPE = re.compile(r"char|text|clob|string", re.I)
MAX_SUGGESTIONS = 5


def _kind(column: dict) -> str | None:
    declared = column.get("type") or ""
    if _TIME_TYPE.search(declared):
        return "time"
    if _NUMERIC_TYPE.search(declared) and "bool" not in declared.lower():
        return "number"
    if _TEXT_TYPE.search(declared) or not declared:
        return "text"
    return None


def _is_key(table: dict, name: str) -> bool:
    foreign = {c for fk in table.get("foreign_keys", []) for c in fk["columns"]}
    return name == "id" or name.endswith("_id") or name in foreign or name in (table.get("primary_key") or [])


def _phrase(table: dict, column: str) -> str:
    """A column as words; bare `name`/`title` need their table to mean anything."""
    if column in ("name", "title"):
        return f"{label(table['name']).lower()} {column}"
    return label(column).lower()


def _columns(table: dict, kind: str) -> list[str]:
    return [c["name"] for c in table.get("columns", []) if _kind(c) == kind and not _is_key(table, c["name"])]


def tables_read(sql: str, dialect: str | None) -> list[str]:
    try:
        tree = sqlglot.parse_one(sql, read="postgres" if dialect == "postgresql" else dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError):
        return []
    return list(dict.fromkeys(t.name for t in tree.find_all(exp.Table) if t.name))


def _neighbourhood(tables: list[dict], names: list[str]) -> list[dict]:
    """The named tables, then the tables they reference, then the tables that reference them."""
    by_name = {t["name"]: t for t in tables}
    picked = [by_name[n] for n in names if n in by_name]
    referenced = [by_name[fk["ref_table"]] for t in picked for fk in t.get("foreign_keys", []) if fk["ref_table"] in by_name]
    referencing = [t for t in tables if any(fk["ref_table"] in names for fk in t.get("foreign_keys", []))]
    out = []
    for table in picked + referenced + referencing:
        if table not in out:
            out.append(table)
    return out


# Columns people slice by, best first; free text (addresses, emails, notes) never makes a good slice.
_SLICE_NAMES = ("country", "region", "state", "city", "category", "genre", "type", "status", "segment",
                "department", "channel", "kind", "group", "class", "title", "name")
SMALL_TABLE_ROWS = 1000  # a name or title column only slices well when there are few of them


def _slice_rank(table: dict, column: str) -> int | None:
    words = set(column.lower().split("_"))
    for rank, word in enumerate(_SLICE_NAMES):
        if word in words:
            if word in ("title", "name") and (table.get("rows") or 0) > SMALL_TABLE_ROWS:
                return None
            return rank
    return None


def _breakdowns(tables: list[dict], result_columns: list[str]) -> list[str]:
    taken = {c.lower() for c in result_columns}
    best: dict[int, tuple] = {}  # one suggestion per kind of slice: billing country or country, not both
    for order, table in enumerate(tables):
        for column in _columns(table, "text"):
            rank = _slice_rank(table, column)
            phrase = _phrase(table, column)
            if rank is None or column in taken or taken & set(phrase.split()) or table["name"] in taken:
                continue  # the result is already split this way
            best.setdefault(rank, (rank, order, phrase))
    return [f"Break this down by {phrase}" for _, _, phrase in sorted(best.values())]


def _after_result(session, tables: list[dict], dialect: str | None) -> list[str]:
    viz = session.visualization or {}
    columns, rows = session.last_columns, session.last_rows
    x, y = viz.get("x"), viz.get("y")
    measure = label(y).lower() if y else "the result"
    read = tables_read(session.last_sql, dialect)
    near = _neighbourhood(tables, read)
    out = _breakdowns(near, columns)[:2]
    kinds = {c.name: c.kind for c in profile(columns, rows)}
    # Only a date in a table the query read makes "over time" a change of this query.
    has_time_column = any(_columns(t, "time") for t in near if t["name"] in read)
    if x and y and viz.get("type") != "scatter":
        if kinds.get(x) == TIME:
            out.append(f"Which {label(x).lower()} had the highest {measure}?")
            out.append(f"Show the average {measure} per {label(x).lower()}")
        else:
            out.append(f"Show only the top 5 {label(x).lower()} by {measure}")
            if has_time_column:
                out.append(f"How has {measure} changed month by month?")
    elif y and viz.get("type") != "scatter" and has_time_column:
        out.append(f"How has {measure} changed month by month?")
    return out


def _best_slice(table: dict) -> str | None:
    ranked = sorted((rank, column) for column in _columns(table, "text") if (rank := _slice_rank(table, column)) is not None)
    return ranked[0][1] if ranked else None


def _from_schema(tables: list[dict]) -> list[str]:
    from executor.schema import rank_tables

    out = []
    for table in rank_tables([t for t in tables if t.get("kind", "table") == "table"])[:6]:
        name = label(table["name"]).lower()
        numbers, times, slice_by = _columns(table, "number"), _columns(table, "time"), _best_slice(table)
        if numbers and times:
            out.append(f"Show {name} {label(numbers[0]).lower()} by month")
        if numbers and slice_by:
            out.append(f"Which {_phrase(table, slice_by)} has the highest total {name} {label(numbers[0]).lower()}?")
        elif slice_by:
            out.append(f"How many {name} rows are there per {_phrase(table, slice_by)}?")
        elif numbers:
            out.append(f"What is the average {name} {label(numbers[0]).lower()}?")
        else:
            out.append(f"How many rows are in {name}?")
    return out


def suggest(session, schema: dict | None, dialect: str | None = None, limit: int = MAX_SUGGESTIONS) -> list[str]:
    tables = (schema or {}).get("tables") or []
    candidates = _after_result(session, tables, dialect) if session.has_result else []
    candidates += _from_schema(tables)
    return list(dict.fromkeys(candidates))[:limit]
