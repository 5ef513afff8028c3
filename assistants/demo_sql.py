"""The offline demo model for one-shot SQL questions (Dataherald's questions, prompts and SQL and
NL generations): the same question patterns over the Chinook demo as the chat's demo model, the
query its tool call would run, and a plain answer built only from the rows that came back.
Every text starts with the demo label, so nobody mistakes it for a real model."""

from __future__ import annotations

import ast

from .demo_model import EXAMPLES, HOW_TO_CONFIGURE, LABEL, code_for, understand

ANSWER_ROWS = 5


def sql_for(question: str) -> str | None:
    """The first query the demo model's code for `question` runs, or None when it does not know
    the question. A refund's query calls a declared action: the SQL guard refuses it here."""
    intent = understand([{"role": "user", "content": question or ""}])  # every shape the chat's demo answers
    if intent is None or intent.kind == "credit_incomplete":
        return None
    for node in ast.walk(ast.parse(code_for(intent))):
        if (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run_sql"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
        ):
            return node.args[0].value.strip()
    return None


def not_understood() -> str:
    examples = "; ".join(f'"{e}"' for e in EXAMPLES[:6])
    return f"{LABEL}I only understand a few questions about the Chinook demo, for example: {examples}. {HOW_TO_CONFIGURE}"


def answer(columns: list[str], rows: list[dict], total: int) -> str:
    """Words for a result, from its rows only."""
    if not rows:
        return f"{LABEL}The query ran and nothing matched."
    if total == 1 and len(columns) <= 6:
        values = ", ".join(f"{c}: {rows[0].get(c)}" for c in columns)
        return f"{LABEL}The query returned one row: {values}."
    shown = "; ".join(", ".join(f"{c}: {r.get(c)}" for c in columns[:3]) for r in rows[:ANSWER_ROWS])
    more = f" (first {ANSWER_ROWS} shown)" if total > ANSWER_ROWS else ""
    return f"{LABEL}The query returned {total} rows{more}: {shown}."
