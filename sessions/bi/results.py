"""Reading a finished run back: the answer text, the last SQL it ran and that statement's rows.

The engine's event log is the record: the last `tool_response_message` that ran SQL holds the
statement and its rows exactly as the sandbox returned them.
"""

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from threads.models import Message, Run, RunEvent

from ..models import MAX_STORED_ROWS


@dataclass
class RunResult:
    text: str = ""
    sql: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    row_count: int = 0
    truncated: bool = False
    tool_error: str | None = None
    artifacts: list[dict] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return bool(self.sql)


def final_message(run: Run) -> Message | None:
    return (
        Message.objects.filter(run=run, role=Message.Role.AI).exclude(content="").order_by("-seq").first()
    )


def output_columns(sql: str, dialect: str | None) -> list[str]:
    """The names a SELECT returns, for results with no row to read them from ([] if unknown)."""
    try:
        tree = sqlglot.parse_one(sql, read="postgres" if dialect == "postgresql" else dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError):
        return []
    if not isinstance(tree, exp.Query):
        return []
    names = tree.named_selects
    return [] if "*" in names or any(not n for n in names) else list(names)


def _columns(sql: str, rows: list[dict], dialect: str | None) -> list[str]:
    """The result's columns in SELECT order: the statement's own select list when it names every
    column of the rows, else the first row's keys (the event log stores JSON text, so they keep the
    order the rows were read in); without rows, the select list alone."""
    named = output_columns(sql, dialect)
    if not rows:
        return named
    keys = list(rows[0].keys())
    return named if sorted(named) == sorted(keys) else keys


def read_run(run: Run, *, dialect: str | None = None) -> RunResult:
    result = RunResult()
    message = final_message(run)
    result.text = message.content if message else ""
    events = RunEvent.objects.filter(run=run, type="tool_response_message").order_by("-seq")
    for index, event in enumerate(events.iterator()):
        output = (event.data or {}).get("output") or {}
        if index == 0:  # only the latest tool call's failure matters: the model may have recovered
            result.tool_error = output.get("error") or None
        result.artifacts = result.artifacts or list(output.get("modified_artifacts") or [])
        statements = [s for s in output.get("sql_statements") or [] if isinstance(s, dict) and s.get("sql")]
        if not statements:
            continue
        last = statements[-1]
        rows = [r for r in (last.get("result") or []) if isinstance(r, dict)]
        result.sql = last["sql"].strip()
        result.row_count = len(rows)
        result.rows = rows[:MAX_STORED_ROWS]
        result.truncated = len(rows) > MAX_STORED_ROWS
        result.columns = _columns(result.sql, rows, dialect)
        break
    return result
