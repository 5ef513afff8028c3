"""Every question the product suggests is answered by the offline demo model, correctly, on the demo
data: the start page's chips, the demo's own help text, the README's examples and BI's suggestions
(from the demo schema, and after a first answer). The questions are read from where they live, so
a new suggestion without an expected answer below fails `test_every_suggestion_has_an_expected_answer`.

The code the demo writes runs on the real Chinook data (SQLite, built from the fixture)."""

import functools
import json
import re
import sqlite3
import tempfile
from pathlib import Path

import pytest

from assistants import demo_model
from assistants.demo_model import LABEL, reply_to
from tests.assistants.test_demo_model import Executor, run_code

ROOT = Path(__file__).resolve().parents[2]
# Conversations after which BI's suggestions are read too (its follow-ups depend on the last result).
BI_STARTERS = [
    ("Show revenue by month in 2010",),
    ("Show revenue by month in 2010", "Break this down by billing country"),
    ("How many tracks are there per genre?",),
    ("How many customer rows are there per country?",),
]


@functools.lru_cache(maxsize=None)
def chinook_path() -> str:
    from executor import demo

    path = Path(tempfile.mkdtemp(prefix="querent-demo-suggestions-")) / "chinook.sqlite3"
    demo.load_demo(f"sqlite:///{path}")
    return str(path)


def _issue_credit(customer_id, amount):
    """The demo's declared action, as the approved statement runs it (here on its own connection)."""
    with sqlite3.connect(chinook_path()) as conn:
        return conn.execute("INSERT INTO credit (customer_id, amount) VALUES (?, ?)", (customer_id, amount)).lastrowid


def query(sql: str) -> list[dict]:
    conn = sqlite3.connect(chinook_path())
    conn.row_factory = sqlite3.Row
    conn.create_function("issue_credit", 2, _issue_credit)
    try:
        return [dict(row) for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def converse(questions: list[str]) -> list[tuple[str, dict | None]]:
    """Each question asked in turn in one conversation: (final answer, tool result or None)."""
    messages, out = [], []
    for question in questions:
        messages.append({"role": "user", "content": question})
        text, calls = reply_to(messages)
        if not calls:
            messages.append({"role": "assistant", "content": text})
            out.append((text, None))
            continue
        result = run_code(calls[0].parsed()["python_code"], Executor(query))
        messages += [
            {"role": "assistant", "content": text, "tool_calls": [calls[0].to_message()]},
            {"role": "tool", "tool_call_id": calls[0].id, "content": json.dumps(result, default=str)},
        ]
        final, _ = reply_to(messages)
        messages.append({"role": "assistant", "content": final})
        out.append((final, result))
    return out


# --- where the suggestions live -----------------------------------------------------------------


def chip_questions() -> list[str]:
    return [q for page in sorted((ROOT / "templates").rglob("*.html"))
            for q in re.findall(r'data-example="([^"]+)"', page.read_text())]


def readme_questions() -> list[tuple[tuple[str, ...], str]]:
    """(the questions before it in the same example, the question): an example is one conversation
    (BI's refinement follows its first question)."""
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    out = []
    for block in blocks:
        asked = re.findall(r'"(?:message|question|refinement|input|content|prompt)":\s*"([^"]+)"', block)
        out += [(tuple(asked[:i]), q) for i, q in enumerate(asked)]
    return out


def _bi_schema() -> dict:
    from executor.models import DataSource
    from executor.schema import introspect

    return introspect(DataSource(engine="sqlite", connection_url=f"sqlite:///{chinook_path()}"))


class _LastResult:
    """What a BI session keeps of its last answer, as the suggestions read it."""

    def __init__(self, questions: tuple[str, ...]):
        from sessions.bi import visualization

        _, result = converse(list(questions))[-1]
        statement = result["sql_statements"][-1]
        self.last_sql, self.last_rows = statement["sql"], statement["result"]
        self.last_columns = list(self.last_rows[0])
        self.visualization = visualization.choose(self.last_columns, self.last_rows)
        self.has_result = True


class _NoResult:
    has_result = False


def bi_suggestions() -> list[tuple[tuple[str, ...], str]]:
    """(the questions answered before; the suggestion) as a demo BI session offers them."""
    from sessions.bi.suggestions import suggest

    schema = _bi_schema()
    out = [((), s) for s in suggest(_NoResult(), schema, "sqlite")]
    for starter in BI_STARTERS:
        out += [(starter, s) for s in suggest(_LastResult(starter), schema, "sqlite") if ((), s) not in out]
    return out


@functools.lru_cache(maxsize=None)
def all_suggestions() -> list[tuple[str, tuple[str, ...], str]]:
    """(where, the questions before it, the suggestion), each once."""
    found = [("chip", (), q) for q in chip_questions()]
    found += [("demo help text", (), q) for q in demo_model.EXAMPLES]
    found += [("README", before, q) for before, q in readme_questions()]
    found += [("BI suggestion", before, q) for before, q in bi_suggestions()]
    seen, out = set(), []
    for where, before, q in found:
        if (before, q) not in seen:
            seen.add((before, q))
            out.append((where, before, q))
    return out


# --- what each must answer (numbers from the Chinook data: 2007-2011, 412 invoices) -------------

EXPECTED = {
    "Who are my top customers": ["Top customer: Helena Holý (customer 6, Czech Republic) spent 49.62 over 7 invoices"],
    "Who are my top customers?": ["Top customer: Helena Holý (customer 6, Czech Republic) spent 49.62 over 7 invoices"],
    "Who are my top 10 customers?": ["Customers listed: 10", "Top customer: Helena Holý"],
    "Show revenue by month as a chart": ["Months: 60", "Total revenue: 2328.60", "revenue_by_month_chart"],
    "Show revenue by month in 2010": ["Months: 12", "Period: 2010-01 to 2010-12", "Total revenue: 463.67"],
    "How many tracks are there per genre?": ["Tracks by genre, 25 rows", "Highest: Rock with 1297", "query_chart"],
    "How many customers, tracks and albums are there?": ["Number of customers: 59", "Number of tracks: 3503", "Number of albums: 347"],
    "Show customer 5": ["Customer: František Wichterlová (customer 5)", "Purchases: 7 invoices"],
    "Who is the customer with email luisg@embraer.com.br?": ["Customer: Luís Gonçalves (customer 1)"],
    "List tracks by AC/DC": ["Tracks found: 18", "Artists matched: AC/DC"],
    "List albums by Queen": ["Albums found: 3", "Artists matched: Queen"],
    "Refund customer 7 $15": ["Credit issued:", "15.00 to customer 7"],
    "Which genres have the most tracks?": ["Tracks by genre: top 10, 10 rows", "Highest: Rock with 1297"],
    # BI, from the demo schema
    "What is the average track milliseconds?": ["Values: average milliseconds 393599.21"],
    "How many rows are in playlist track?": ["Values: rows 8715"],
    "How many customer rows are there per country?": ["Customers by country, 24 rows", "Highest: USA with 13"],
    "What is the average invoice line unit price?": ["Values: average unit price 1.04"],
    "How many employee rows are there per country?": ["Values: country Canada, employee count 8"],
    "Show invoice total by month": ["Invoice total by month, 60 rows", "Highest: 2008-01 with 52.62"],
    "Which billing country has the highest total invoice total?": ["Invoice total by billing country: the highest", "Values: billing country USA, total 523.06"],
    # BI, after "Show revenue by month in 2010"
    "Break this down by billing country": ["Revenue by month and billing country in 2010", "Highest: 2010-09, USA with 29.85"],
    "Which month had the highest revenue?": ["Values: month 2010-08, revenue 47.62"],
    "Show the average revenue per month": ["average revenue per month 38.64, months 12"],
    # BI, after a count per genre or per country
    "Show only the top 5 genre by track count": ["Tracks by genre: top 5, 5 rows", "Highest: Rock with 1297", "Lowest: Jazz with 130"],
    "Show only the top 5 country by customer count": ["Customers by country: top 5", "Highest: USA with 13"],
    "Break this down by media type": ["Tracks by genre and media type"],
    "Break this down by media type name": ["Tracks by genre and media type"],
    "Break this down by billing state": ["and billing state in 2010"],
    "Break this down by country": ["Revenue by month, billing country and country in 2010", "Highest: 2010-09, USA, USA with 29.85"],
    "Break this down by album title": ["Tracks by genre and album title"],
    "Break this down by city": ["Customers by country and city"],
    "Break this down by state": ["Customers by country and state"],
}


def _ids(params):
    where, before, question = params
    return f"{where}: {question}" + (f" (after: {' / '.join(before)})" if before else "")


def test_every_suggestion_has_an_expected_answer():
    suggestions = all_suggestions()
    assert {"chip", "demo help text", "README", "BI suggestion"} <= {where for where, _, _ in suggestions}
    missing = [f"{where}: {q!r}" for where, _, q in suggestions if q not in EXPECTED]
    assert not missing, "suggested but with no expected answer in this test:\n" + "\n".join(missing)


@pytest.mark.parametrize("where,before,question", all_suggestions(), ids=[_ids(p) for p in all_suggestions()])
def test_the_demo_answers_each_suggestion_on_the_demo_data(where, before, question):
    answer, result = converse([*before, question])[-1]
    assert answer.startswith(LABEL)
    assert result is not None, f"no query was run for {question!r}: {answer}"
    assert result["error"] is None, result["error"]
    for expected in EXPECTED.get(question, ["(no expected answer: see test_every_suggestion_has_an_expected_answer)"]):
        assert expected in answer, answer


def test_bi_charts_revenue_not_the_invoice_count():
    from sessions.bi import visualization

    result = _LastResult(("Show revenue by month in 2010",))
    assert result.visualization == {"type": "line", "x": "month", "y": "revenue", "series": None}
    assert visualization.choose(*_columns_rows(converse(["How many tracks are there per genre?"])[0][1]))["y"] == "track_count"


def _columns_rows(result):
    rows = result["sql_statements"][-1]["result"]
    return list(rows[0]), rows


def test_refinements_follow_the_previous_question():
    answers = converse(["Show revenue by month in 2010", "only 2009", "Show only the top 3 month by revenue"])
    assert "Period: 2010-01 to 2010-12" in answers[0][0]
    assert "Revenue by month in 2009, 12 rows" in answers[1][0]
    top = answers[2][1]["sql_statements"][-1]["result"]
    assert [r["month"] for r in top] == [r["month"] for r in sorted(
        query("SELECT substr(invoice_date, 1, 7) AS month, SUM(total) AS revenue FROM invoice "
              "WHERE substr(invoice_date, 1, 4) = '2009' GROUP BY 1"), key=lambda r: (-r["revenue"], r["month"]))[:3]]


@pytest.mark.parametrize("question", ["Write me a poem about databases", "Break this down by country", "only 2009"])
def test_anything_else_gets_what_the_demo_can_do(question):
    answer, calls = reply_to([{"role": "user", "content": question}])
    assert calls == []
    assert "did not understand" in answer and "Show revenue by month in 2010" in answer and "OPENAI_API_KEY" in answer


def dataherald_examples() -> list[str]:
    """The questions Dataherald's demo answer names when it does not know one."""
    from assistants import demo_sql

    return re.findall(r'"([^"]+)"', demo_sql.not_understood())


@pytest.mark.parametrize("question", dataherald_examples())
def test_dataherald_demo_answers_the_examples_it_names(question):
    from assistants import demo_sql

    sql = demo_sql.sql_for(question)
    assert sql is not None, f"Dataherald's demo names {question!r} but writes no SQL for it"
    if "issue_credit" in sql:
        return  # the refund: Dataherald refuses a write (its own tests), nothing to read here
    assert query(sql), sql

