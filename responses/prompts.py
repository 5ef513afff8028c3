"""What the model is asked, and how its replies are read back (SQL out of text, a score out of text)."""

from __future__ import annotations

import json
import re

# Where a write can be asked for, for the endpoints that never run one.
WRITES_ELSEWHERE = (
    "To change data, ask for it as a question (POST /api/v1/questions or /api/v1/responses): the change is "
    "shown with its exact SQL and runs only once you approve it; or ask in the chat page."
)

ENGINE_NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite", "mysql": "MySQL/MariaDB", "duckdb": "DuckDB"}
RESULT_PREVIEW_ROWS = 50
RESULT_PREVIEW_CHARS = 8000


def sql_messages(question: str, *, engine: str, schema: str, context: str = "") -> list[dict]:
    """`context`: the data source's rules and verified examples from the context store."""
    name = ENGINE_NAMES.get(engine, engine)
    system = (
        f"You write SQL for a {name} database to answer the user's question.\n"
        "Reply with exactly one read-only query (SELECT or WITH ... SELECT) in a ```sql code block, and nothing "
        "else. Use only the tables and columns listed below. Never write INSERT, UPDATE, DELETE or DDL, and never "
        "call a function that changes data.\n\n"
        + (f"{context}\n\n" if context else "")
        + f"Schema:\n{schema}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def correction_message(error: str) -> dict:
    return {
        "role": "user",
        "content": (
            f"That query failed in the database:\n{error}\n\n"
            "Reply with one corrected read-only query in a ```sql code block."
        ),
    }


NO_SQL_CORRECTION = {
    "role": "user",
    "content": "Your reply contained no SQL query. Reply with one read-only query in a ```sql code block.",
}


def result_text(columns: list[str], rows: list[dict], *, total: int | None = None, truncated: bool = False) -> str:
    """The result as the model sees it: JSON rows, bounded in rows and characters."""
    shown = rows[:RESULT_PREVIEW_ROWS]
    count = total if total is not None else len(rows)
    note = f"{count} rows" + ("+" if truncated else "")
    if len(shown) < count:
        note += f", first {len(shown)} shown"
    body = json.dumps(shown, ensure_ascii=False, default=str)
    if len(body) > RESULT_PREVIEW_CHARS:
        body = body[:RESULT_PREVIEW_CHARS] + " ...(cut)"
    return f"Columns: {', '.join(columns)}\nResult ({note}):\n{body}"


def answer_messages(question: str, sql: str, result: str) -> list[dict]:
    system = (
        "You answer a question about data in plain language, using only the SQL result given. Be brief and "
        "specific. If the result is empty, say that nothing matched. Never invent values that are not in the result."
    )
    user = f"Question: {question}\n\nSQL:\n{sql}\n\n{result}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def evaluation_messages(question: str, sql: str, result: str) -> list[dict]:
    system = (
        "You review SQL written to answer a question. Judge whether the query and its result answer the question "
        'correctly. Reply only with JSON: {"confidence": <a number from 0 to 1>, "reason": "<one sentence>"}.'
    )
    user = f"Question: {question}\n\nSQL:\n{sql}\n\n{result}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# --- reading replies -----------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n?(.*?)```", re.S)
_SQL_TAGS = {"sql", "postgresql", "postgres", "psql", "sqlite", "pgsql", "mysql", "mariadb", "duckdb"}
_QUERY_START = re.compile(r"^\s*(WITH|SELECT|VALUES|TABLE|EXPLAIN)\b", re.I | re.M)


def extract_sql(text: str | None) -> str:
    """The SQL in a model reply: a ```sql block, else any code block, else the reply from its first
    line that starts a query, else the whole reply. Trailing semicolons are dropped."""
    text = (text or "").strip()
    blocks = _FENCE.findall(text)
    tagged = [body for tag, body in blocks if tag.lower() in _SQL_TAGS]
    if tagged or blocks:
        sql = (tagged or [body for _, body in blocks])[0]
    else:
        start = _QUERY_START.search(text)
        sql = text[start.start():] if start else text
    return sql.strip().rstrip(";").strip()


_SCORE_KEYS = ("confidence", "confidence_score", "score")
_LABELLED = re.compile(r"(?:confidence(?:[ _]score)?|score)[^\d\n]{0,20}?(\d+(?:\.\d+)?)\s*(%)?", re.I)
_BARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%)?\s*\.?\s*$")


def _as_score(number: float, percent: bool) -> float | None:
    if percent or 1 < number <= 100:
        number = number / 100
    return round(number, 4) if 0 <= number <= 1 else None


def parse_score(text: str | None) -> float | None:
    """A 0-1 score from an evaluator reply: JSON {"confidence": x}, "confidence: 0.8", "85%", "0.9";
    None when the reply holds no such number."""
    text = (text or "").strip()
    if not text:
        return None
    fenced = _FENCE.search(text)
    candidate = fenced.group(2).strip() if fenced else text
    try:
        value = json.loads(candidate)
    except ValueError:
        value = None
    if isinstance(value, dict):
        for key in _SCORE_KEYS:
            number = value.get(key)
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                return _as_score(float(number), False)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return _as_score(float(value), False)
    for pattern in (_LABELLED, _BARE):
        match = pattern.search(candidate)
        if match:
            return _as_score(float(match.group(1)), bool(match.group(2)))
    return None
