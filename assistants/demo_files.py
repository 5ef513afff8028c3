"""The offline demo model's answers about an uploaded file (a DuckDB data source): what is in it,
how many rows, the top N of a column, a chart.

The demo model knows nothing of an uploaded file's columns when it writes its code, so the code it
writes looks them up itself (information_schema) and picks the table and columns whose names appear
in the question: a text column to group by, a number column to add up (else rows are counted).
"""

from __future__ import annotations

import re

_DUCKDB = re.compile(r"user's duckdb database", re.I)
_OVERVIEW = re.compile(
    r"\bwhat(?:'s| is| are)? (?:in|inside) (?:this|the|my) (?:file|upload|spreadsheet|sheet|workbook|csv|data)"
    r"|\b(?:describe|summari[sz]e|overview of|show me) (?:this|the|my) (?:file|upload|spreadsheet|workbook|csv|data)\b"
    r"|\bwhat (?:columns|tables)\b",
    re.I,
)
_COUNT = re.compile(r"\b(how many|number of|count)\b.*\b(rows?|records?|lines?|entries)\b", re.I)
_TOP = re.compile(r"\btop\s+(\d+)\b|\b(?:largest|biggest|highest|most)\b", re.I)
_CHART = re.compile(r"\b(chart|plot|graph|visuali[sz]e)\b", re.I)
_WORD = re.compile(r"[a-z0-9]+")


def applies(messages: list[dict]) -> bool:
    """The conversation is about a DuckDB source (uploaded files): the system prompt names the engine."""
    first = messages[0] if messages else {}
    return first.get("role") == "system" and bool(_DUCKDB.search(str(first.get("content") or "")))


def intent(question: str) -> dict | None:
    """{kind: overview|count|top|chart, ...} for a question the file answers handle, else None."""
    if _OVERVIEW.search(question):
        return {"kind": "overview"}
    if _CHART.search(question):
        return {"kind": "chart", "words": _words(question), "limit": 30}
    if match := _TOP.search(question):
        return {"kind": "top", "words": _words(question), "limit": max(1, min(int(match.group(1) or 10), 100))}
    if _COUNT.search(question):
        return {"kind": "count"}
    return None


def _words(question: str) -> list[str]:
    return sorted(set(_WORD.findall(question.lower())))[:40]


_COLUMNS = (
    "cols = await executor.run_sql(\"SELECT table_name, column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position\")",
    "tables = {}",
    "for c in cols:",
    "    tables.setdefault(c['table_name'], []).append((c['column_name'], c['data_type'].upper()))",
    "q = lambda name: '\"' + name.replace('\"', '\"\"') + '\"'",
)


def code_for(params: dict) -> str:
    kind = params["kind"]
    if kind == "overview":
        return "\n".join([
            *_COLUMNS,
            "overview = []",
            "for name, columns in tables.items():",
            "    n = (await executor.run_sql(f'SELECT count(*) AS n FROM {q(name)}'))[0]['n']",
            "    described = ', '.join(f'{c} ({t.lower()})' for c, t in columns)",
            "    overview.append({'table': name, 'rows': n, 'columns': described})",
            "    executor.print(f'Table {name}: {n} rows; columns: {described}')",
            "executor.store_artifact('file_overview', 'What is in this data', 'table', overview)",
            "if tables:",
            "    first = next(iter(tables))",
            "    preview = await executor.run_sql(f'SELECT * FROM {q(first)} LIMIT 10')",
            "    executor.store_artifact('file_preview', f'First rows of {first}', 'table', preview)",
        ])
    if kind == "count":
        return "\n".join([
            *_COLUMNS,
            "rows = []",
            "for name in tables:",
            "    n = (await executor.run_sql(f'SELECT count(*) AS n FROM {q(name)}'))[0]['n']",
            "    rows.append({'table': name, 'rows': n})",
            "    executor.print(f'Rows in {name}: {n}')",
            "executor.store_artifact('file_counts', 'Rows per table', 'table', rows)",
        ])
    chart = kind == "chart"
    return "\n".join([
        *_COLUMNS,
        f"words = {params['words']!r}",
        "named = lambda column: all(part in words for part in column.lower().replace('-', '_').split('_') if part)",
        "score = lambda item: sum(named(c) for c, _ in item[1])",
        "table, columns = max(tables.items(), key=score)",
        "numeric = ('INT', 'DOUBLE', 'DECIMAL', 'FLOAT', 'REAL', 'NUMERIC', 'HUGEINT', 'BIGINT')",
        "texts = [c for c, t in columns if t in ('VARCHAR', 'DATE', 'BOOLEAN') or t.startswith('TIMESTAMP')]",
        "numbers = [c for c, t in columns if t.startswith(numeric)]",
        "dim = next((c for c in texts if named(c)), texts[0] if texts else columns[0][0])",
        "measure = next((c for c in numbers if named(c) and c != dim), None)",
        "value = f'SUM({q(measure)})' if measure else 'count(*)'",
        "label = f'total_{measure}' if measure else 'rows'",
        f"limit = {int(params['limit'])}",
        "sql = (f'SELECT {q(dim)} AS {q(dim)}, {value} AS {q(label)} FROM {q(table)} '",
        "       f'GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {limit}')",
        "rows = await executor.run_sql(sql)",
        "title = f\"{label.replace('_', ' ').capitalize()} by {dim} in {table}\"",
        "executor.store_artifact('file_result', title, 'table', rows)",
        *(["executor.store_artifact('file_chart', title, 'chart', {'type': 'bar', 'x': dim, 'y': label, 'rows': rows})"]
          if chart else []),
        "executor.print(f'Result: {title}, {len(rows)} rows')",
        "if rows:",
        "    executor.print(f'Highest: {rows[0][dim]} with {rows[0][label]}')",
    ])


SPEECH = {
    "overview": ("I'll list the tables and columns of your uploaded data, with their row counts and a preview.",
                 "Here is what your data contains:", ("Table ",), ("file_overview", "file_preview")),
    "count": ("I'll count the rows of each table in your data.", "Here are the row counts:", ("Rows in ",), ("file_counts",)),
    "top": ("I'll group your data by the column you named and rank the groups.", "Here is what the data says:",
            ("Result:", "Highest:"), ("file_result",)),
    "chart": ("I'll group your data by the column you named and chart it.", "Here is the chart:",
              ("Result:", "Highest:"), ("file_result", "file_chart")),
}
