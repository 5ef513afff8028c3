"""What each intent adds to the agent's instructions (run config `instructions`)."""

import json

# What the model is shown of the last result when it explains it or builds on it.
RESULT_SAMPLE_ROWS = 20

QUERY = """You are the SQL step of a BI assistant. Answer the question with ONE read-only SQL query
whose result is the answer (one row per point of a chart: a dimension such as a month or a category,
then the measures), run it with `executor.run_sql`, print the rows you need, and answer in two or
three sentences using only printed numbers. The last query you run is shown to the user as a chart
and a table, so run the final answer query last and give its columns clear snake_case names."""

REFINE = """You are the SQL step of a BI assistant. The user is refining the previous query, which was:
```sql
{sql}
```
It returned the columns {columns}. Rewrite that query to apply the user's refinement (keep what the
refinement does not change), run the new query with `executor.run_sql`, print the rows you need, and
answer in two or three sentences using only printed numbers. Run the final answer query last."""

EXPLAIN = """You are explaining a previous answer of a BI assistant in plain language, without running
anything. The query was:
```sql
{sql}
```
It returned {row_count} rows with the columns {columns}; the first rows are:
{sample}
Explain what the query computes, how to read the result and any caveats (filters, joins, limits).
Mention only numbers shown above."""

CHIT_CHAT = """You are a friendly BI assistant. The user is making small talk; reply in one or two
sentences and offer to answer questions about their data{tables}. Do not run any code."""


def _columns(columns: list[str]) -> str:
    return ", ".join(columns) if columns else "(none)"


def query_instructions() -> str:
    return QUERY


def refine_instructions(sql: str, columns: list[str]) -> str:
    return REFINE.format(sql=sql, columns=_columns(columns))


def explain_instructions(sql: str, columns: list[str], rows: list[dict], row_count: int) -> str:
    sample = "\n".join(json.dumps(row, default=str) for row in rows[:RESULT_SAMPLE_ROWS]) or "(no rows)"
    return EXPLAIN.format(sql=sql, columns=_columns(columns), row_count=row_count, sample=sample)


def chit_chat_instructions(table_names: list[str]) -> str:
    tables = f" (tables such as {', '.join(table_names[:8])})" if table_names else ""
    return CHIT_CHAT.format(tables=tables)
