"""The offline demo model's questions about any table and column of the demo (Chinook) database.

The product suggests questions built from the schema ("How many customer rows are there per
country?", "Show invoice total by month", BI's follow-ups such as "Break this down by billing
country" or "Which month had the highest revenue?"), so the demo answers those shapes for every
table and column rather than a list of sentences. A follow-up changes the previous question's
query, found by replaying the conversation's earlier questions (BI's `refine` works the same way).

SQL is written to run unchanged on PostgreSQL and SQLite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from executor.demo import TABLES

# table -> {column: kind}; kind is "key", "number", "time" or "text".
_KIND = {"pk": "key", "int": "number", "int!": "number", "money!": "number", "ts": "time", "ts!": "time"}
COLUMNS = {
    table: {name: ("key" if name == "id" or name.endswith("_id") or name == "reports_to" else _KIND.get(kind, "text"))
            for name, kind, _ in columns}
    for table, _, columns, _ in TABLES
}
REFERENCES = {table: dict(refs) for table, _, _, refs in TABLES}  # table -> {fk column: referenced table}
MAX_ROWS = 500


def words(name: str) -> str:
    return name.replace("_", " ").lower()


def _singular(phrase: str) -> str:
    return re.sub(r"(?<!s)s$", "", phrase.strip())


def find_table(phrase: str) -> str | None:
    phrase = _singular(words(phrase).strip())
    synonyms = {"song": "track", "order": "invoice", "client": "customer", "band": "artist", "staff": "employee"}
    phrase = synonyms.get(phrase, phrase)
    return next((t for t in COLUMNS if words(t) == phrase), None)


@dataclass(frozen=True)
class Dimension:
    sql: str  # an expression over `t` (the table) or a referenced table (joined under its own name)
    name: str  # its column name in the result
    join: tuple[str, str] | None = None  # (fk column, referenced table)


@dataclass(frozen=True)
class Query:
    table: str
    agg: str  # count, sum or avg
    column: str | None  # None for count(*)
    name: str  # the measure's column name in the result
    dims: tuple[Dimension, ...] = ()
    year: str | None = None
    top: int | None = None  # ordered by the measure, largest first, cut at `top`
    average_of_groups: bool = False  # one number: the average of the grouped measure

    @property
    def time_column(self) -> str | None:
        return next((c for c, kind in COLUMNS[self.table].items() if kind == "time"), None)


def month_dimension(table: str) -> Dimension | None:
    time = next((c for c, kind in COLUMNS[table].items() if kind == "time"), None)
    return Dimension(f"substr(CAST(t.{time} AS TEXT), 1, 7)", "month") if time else None


# "Revenue" in the demo is the sum of invoice totals (as the revenue-by-month answer says).
REVENUE = Query("invoice", "sum", "total", "revenue", (month_dimension("invoice"),))


def find_dimension(table: str, phrase: str) -> Dimension | None:
    """A column of `table` named by `phrase` ("country", "billing country"), the name or title of a
    table it references ("genre", "album title"), or "month"."""
    phrase = words(phrase).strip().rstrip("?.!").strip()
    if phrase in ("month", "months", "invoice date month"):
        return month_dimension(table)
    for column, kind in COLUMNS[table].items():
        if kind == "text" and phrase in (words(column), f"{words(table)} {words(column)}"):
            return Dimension(f"t.{column}", column)
    for fk, ref in REFERENCES[table].items():
        for column in ("name", "title"):
            if column in COLUMNS[ref] and (_singular(phrase) == words(ref) or phrase == f"{words(ref)} {column}"):
                return Dimension(f"{ref}.{column}", ref if column == "name" else f"{ref}_{column}", (fk, ref))
        for column, kind in COLUMNS[ref].items():  # "country" of an invoice: its customer's
            if kind == "text" and phrase in (words(column), f"{words(ref)} {words(column)}"):
                name = f"{ref}_{column}" if column in COLUMNS[table] else column
                return Dimension(f"{ref}.{column}", name, (fk, ref))
    return None


def _measure(table: str, phrase: str) -> tuple[str, str] | None:
    """(column, result name) for "<table> <column>" or "<column>" of `table`."""
    phrase = words(phrase).strip()
    for column, kind in COLUMNS[table].items():
        if kind == "number" and phrase in (words(column), f"{words(table)} {words(column)}"):
            return column, column
    return None


def _table_and_measure(phrase: str) -> tuple[str, str] | None:
    """"invoice line unit price" -> (invoice_line, unit_price): the longest table name first."""
    phrase = words(phrase).strip()
    for table in sorted(COLUMNS, key=len, reverse=True):
        if phrase.startswith(words(table) + " ") and (found := _measure(table, phrase[len(words(table)) + 1:])):
            return table, found[0]
    return None


# --- understanding: standalone shapes, then follow-ups of a previous query --------------------

_Q = r"\s*[?.!]*\s*$"
_AVERAGE = re.compile(r"^what is the average (?P<what>.+?)" + _Q, re.I)
_ROWS_IN = re.compile(r"^how many rows are (?:there )?in (?:the )?(?P<table>.+?)(?: table)?" + _Q, re.I)
_PER = re.compile(r"^how many (?P<table>.+?) (?:rows )?are there (?:per|by|for each|in each) (?P<dim>.+?)" + _Q, re.I)
_BY_MONTH = re.compile(r"^show (?:the )?(?P<what>.+?) by month" + _Q, re.I)
_MOST = re.compile(r"^which (?P<dim>.+?) (?:have|has) the most (?P<table>.+?)" + _Q, re.I)
_HIGHEST_TOTAL = re.compile(r"^which (?P<dim>.+?) has the highest total (?P<what>.+?)" + _Q, re.I)
# Follow-ups (BI's suggestions after a result, and refinements).
_BREAK_DOWN = re.compile(r"^(?:now )?break (?:this|it|that) down by (?P<dim>.+?)" + _Q, re.I)
_TOP = re.compile(r"^(?:now )?(?:show )?(?:me )?only (?:the )?top (?P<n>\d+)\b", re.I)
_WHICH_HIGHEST = re.compile(r"^which (?P<dim>\w+(?: \w+)?) had the highest (?P<measure>.+?)" + _Q, re.I)
_AVERAGE_PER = re.compile(r"^show the average (?P<measure>.+?) per (?P<dim>.+?)" + _Q, re.I)
_CHANGED = re.compile(r"^how has (?P<measure>.+?) changed month by month" + _Q, re.I)
_YEAR_ONLY = re.compile(r"^(?:now |but )?(?:only|just)?\s*(?:for|in|during)?\s*(?:the year )?(?P<year>(?:19|20)\d\d)(?: only)?" + _Q, re.I)


def standalone(question: str) -> Query | None:
    q = " ".join(question.split())
    if m := _AVERAGE.match(q):
        if found := _table_and_measure(m["what"]):
            table, column = found
            return Query(table, "avg", column, f"average_{column}")
    if m := _ROWS_IN.match(q):
        if table := find_table(m["table"]):
            return Query(table, "count", None, "rows")
    if m := _PER.match(q):
        if (table := find_table(m["table"])) and (dim := find_dimension(table, m["dim"])):
            return Query(table, "count", None, f"{table}_count", (dim,))
    if m := _BY_MONTH.match(q):
        if (found := _table_and_measure(m["what"])) and (dim := month_dimension(found[0])):
            return Query(found[0], "sum", found[1], found[1], (dim,))
    if m := _MOST.match(q):
        if (table := find_table(m["table"])) and (dim := find_dimension(table, m["dim"])):
            return Query(table, "count", None, f"{table}_count", (dim,), top=10)
    if m := _HIGHEST_TOTAL.match(q):
        found = _table_and_measure(m["what"])
        if found and (dim := find_dimension(found[0], m["dim"])):
            return Query(found[0], "sum", found[1], found[1], (dim,), top=1)
    return None


def _matches_measure(query: Query, phrase: str) -> bool:
    phrase = words(phrase).strip()
    return phrase in (words(query.name), words(query.column or ""), f"{words(query.table)} {words(query.column or '')}")


def follow_up(question: str, previous: Query | None) -> Query | None:
    """`previous` changed as the question asks, or None when it is not a follow-up of it."""
    q = " ".join(question.split())
    base = previous
    if m := (_WHICH_HIGHEST.match(q) or _AVERAGE_PER.match(q) or _CHANGED.match(q)):
        if base is None or not _matches_measure(base, m["measure"]):
            base = REVENUE if re.fullmatch(r"(total )?(revenue|sales)", m["measure"].strip(), re.I) else None
    if base is None:
        return None
    if m := _BREAK_DOWN.match(q):
        dim = find_dimension(base.table, m["dim"])
        return replace(base, dims=base.dims + (dim,), top=None) if dim and dim not in base.dims else None
    if m := _TOP.match(q):
        return replace(base, top=max(1, min(int(m["n"]), MAX_ROWS)))
    if m := _WHICH_HIGHEST.match(q):
        dim = find_dimension(base.table, m["dim"])
        return replace(base, dims=(dim,), top=1, average_of_groups=False) if dim else None
    if m := _AVERAGE_PER.match(q):
        dim = find_dimension(base.table, m["dim"])
        return replace(base, dims=(dim,), top=None, average_of_groups=True) if dim else None
    if _CHANGED.match(q):
        dim = month_dimension(base.table)
        return replace(base, dims=(dim,), top=None, average_of_groups=False) if dim else None
    if (m := _YEAR_ONLY.match(q)) and base.time_column:
        return replace(base, year=m["year"])
    return None


# --- the code ----------------------------------------------------------------------------------


def sql_for(query: Query) -> str:
    value = "*" if query.column is None else f"t.{query.column}"
    measure = {"count": f"COUNT({value})", "sum": f"ROUND(CAST(SUM({value}) AS NUMERIC), 2)",
               "avg": f"ROUND(CAST(AVG({value}) AS NUMERIC), 2)"}[query.agg]
    joins = "".join(f"\nJOIN {ref} ON {ref}.id = t.{fk}" for fk, ref in dict.fromkeys(d.join for d in query.dims if d.join))
    where = f"\nWHERE substr(CAST(t.{query.time_column} AS TEXT), 1, 4) = '{int(query.year)}'" if query.year else ""
    if not query.dims:
        return f"SELECT {measure} AS {query.name}\nFROM {query.table} t{joins}{where}"
    select = ",\n       ".join([*(f"{d.sql} AS {d.name}" for d in query.dims), f"{measure} AS {query.name}"])
    group = ", ".join(d.sql for d in query.dims)
    order = f"{query.name} DESC, {group}" if query.top else group
    limit = query.top or MAX_ROWS
    inner = f"SELECT {select}\nFROM {query.table} t{joins}{where}\nGROUP BY {group}\nORDER BY {order}\nLIMIT {limit}"
    if query.average_of_groups:
        per = query.dims[0].name
        return f"SELECT ROUND(CAST(AVG({query.name}) AS NUMERIC), 2) AS average_{query.name}_per_{per}, COUNT(*) AS {per}s\nFROM (\n{inner}\n) grouped"
    return inner


def title_of(query: Query) -> str:
    measure = "revenue" if query.name == "revenue" else f"{words(query.table)} {words(query.column or '')}"
    if query.average_of_groups:
        what = f"Average {measure} per {words(query.dims[0].name)}"
    elif query.agg == "count":
        what = f"{words(query.table)}s" if query.dims else f"Rows in {words(query.table)}"
    else:
        what = ("average " if query.agg == "avg" else "") + measure
    if query.dims and not query.average_of_groups:
        names = [words(d.name) for d in query.dims]
        what += " by " + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0])
    if query.top == 1:
        what += ": the highest"
    elif query.top:
        what += f": top {query.top}"
    what += f" in {query.year}" if query.year else ""
    return what[:1].upper() + what[1:]


def code_for(query: Query) -> str:
    from .demo_model import _run_sql  # the one way the demo writes a run_sql call

    title = title_of(query)
    lines = [_run_sql("rows", sql_for(query)), f"executor.store_artifact('query_result', {title!r}, 'table', rows)"]
    if len(query.dims) >= 1 and not query.average_of_groups and query.top != 1:
        chart = "line" if query.dims[0].name == "month" else "bar"
        series = f", 'series': {query.dims[1].name!r}" if len(query.dims) > 1 else ""
        lines.append(f"executor.store_artifact('query_chart', {title!r}, 'chart', "
                     f"{{'type': {chart!r}, 'x': {query.dims[0].name!r}, 'y': {query.name!r}{series}, 'rows': rows}})")
    lines += [
        f"executor.print(f\"Result: {title}, {{len(rows)}} row{{'s' if len(rows) != 1 else ''}}\")",
        "if len(rows) == 1:",
        "    executor.print('Values: ' + ', '.join(f\"{k.replace('_', ' ')} {v}\" for k, v in rows[0].items()))",
        "elif rows:",
        f"    best = max(rows, key=lambda r: float(r[{query.name!r}] or 0))",
        f"    worst = min(rows, key=lambda r: float(r[{query.name!r}] or 0))",
        f"    label = lambda r: ', '.join(str(v) for k, v in r.items() if k != {query.name!r})",
        f"    executor.print(f\"Highest: {{label(best)}} with {{best[{query.name!r}]}}\")",
        f"    executor.print(f\"Lowest: {{label(worst)}} with {{worst[{query.name!r}]}}\")",
    ]
    return "\n".join(lines)
