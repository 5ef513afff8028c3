"""The offline demo model: its patterns, the code it writes (run for real on a small Chinook-shaped
SQLite database, and on PostgreSQL when reachable), and answers built only from the tool output."""

import ast
import asyncio
import json
import os
import re
import sqlite3
import traceback
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlglot

from assistants import demo_model
from assistants.demo_model import LABEL, classify, reply_to
from assistants.llm import Completion, LLMConfig, TextDelta, stream_chat

SCHEMA = """
CREATE TABLE artist (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE album (id INTEGER PRIMARY KEY, title TEXT, artist_id INTEGER);
CREATE TABLE genre (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE media_type (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE track (id INTEGER PRIMARY KEY, name TEXT, album_id INTEGER, media_type_id INTEGER, genre_id INTEGER,
                    composer TEXT, milliseconds INTEGER, bytes INTEGER, unit_price NUMERIC(10, 2));
CREATE TABLE employee (id INTEGER PRIMARY KEY, last_name TEXT, first_name TEXT, title TEXT, reports_to INTEGER);
CREATE TABLE customer (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, company TEXT, address TEXT, city TEXT,
                       state TEXT, country TEXT, postal_code TEXT, phone TEXT, fax TEXT, email TEXT, support_rep_id INTEGER);
CREATE TABLE invoice (id INTEGER PRIMARY KEY, customer_id INTEGER, invoice_date TIMESTAMP, billing_address TEXT,
                      billing_city TEXT, billing_state TEXT, billing_country TEXT, billing_postal_code TEXT,
                      total NUMERIC(10, 2));
CREATE TABLE invoice_line (id INTEGER PRIMARY KEY, invoice_id INTEGER, track_id INTEGER, unit_price NUMERIC(10, 2),
                           quantity INTEGER);
CREATE TABLE playlist (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE playlist_track (playlist_id INTEGER, track_id INTEGER);
CREATE TABLE credit (id INTEGER PRIMARY KEY, customer_id INTEGER, amount NUMERIC(10, 2), created_at TIMESTAMP);
"""

DATA = """
INSERT INTO artist VALUES (1, 'AC/DC'), (2, 'Queen'), (3, 'O''Brien Trio');
INSERT INTO album VALUES (1, 'For Those About To Rock', 1), (2, 'Let There Be Rock', 1), (3, 'Greatest Hits', 2);
INSERT INTO genre VALUES (1, 'Rock');
INSERT INTO media_type VALUES (1, 'MPEG audio file');
INSERT INTO track VALUES
  (1, 'For Those About To Rock (We Salute You)', 1, 1, 1, 'Angus Young', 343719, 11170334, 0.99),
  (2, 'Put The Finger On You', 1, 1, 1, 'Angus Young', 205662, 6713451, 0.99),
  (3, 'Go Down', 2, 1, 1, 'AC/DC', 331180, 10847611, 0.99),
  (4, 'Bohemian Rhapsody', 3, 1, 1, 'Mercury', 358000, 11000000, 0.99);
INSERT INTO employee VALUES (1, 'Adams', 'Andrew', 'General Manager', NULL);
INSERT INTO customer VALUES
  (1, 'Luís', 'Gonçalves', 'Embraer', 'Av. Brigadeiro', 'São José dos Campos', 'SP', 'Brazil', '12227-000',
   '+55 12 3923-5555', NULL, 'luisg@embraer.com.br', 1),
  (5, 'František', 'Wichterlová', 'JetBrains s.r.o.', 'Klanova 9/506', 'Prague', NULL, 'Czech Republic', '14700',
   '+420 2 4172 5555', NULL, 'frantisekw@jetbrains.com', 1),
  (6, 'Helena', 'Holý', NULL, 'Rilská 3174/6', 'Prague', NULL, 'Czech Republic', '14300',
   '+420 2 4177 0449', NULL, 'hholy@gmail.com', 1);
INSERT INTO invoice VALUES
  (1, 6, '2009-01-01 00:00:00', 'a', 'Prague', NULL, 'Czech Republic', '14300', 20.00),
  (2, 6, '2009-02-03 00:00:00', 'a', 'Prague', NULL, 'Czech Republic', '14300', 19.62),
  (3, 6, '2012-03-05 00:00:00', 'a', 'Prague', NULL, 'Czech Republic', '14300', 10.00),
  (4, 5, '2009-01-11 00:00:00', 'b', 'Prague', NULL, 'Czech Republic', '14700', 40.62),
  (5, 1, '2012-03-08 00:00:00', 'c', 'São José dos Campos', 'SP', 'Brazil', '12227-000', 39.62);
INSERT INTO invoice_line VALUES (1, 1, 1, 0.99, 1), (2, 2, 2, 0.99, 1), (3, 4, 3, 0.99, 1);
INSERT INTO playlist VALUES (1, 'Music');
INSERT INTO playlist_track VALUES (1, 1), (1, 4);
"""


# --- a stand-in for the sandbox: runs the generated code the way execute_python does --------


class SQLiteDatabase:
    def __init__(self):
        self.conn = sqlite3.connect(":memory:")
        self.conn.row_factory = sqlite3.Row
        self.conn.executescript(SCHEMA + DATA)
        self.conn.create_function("issue_credit", 2, self._issue_credit)

    def _issue_credit(self, customer_id, amount):
        cursor = self.conn.execute(
            "INSERT INTO credit (customer_id, amount, created_at) VALUES (?, ?, '2024-01-01')", (customer_id, amount)
        )
        return cursor.lastrowid

    def query(self, sql):
        return [dict(row) for row in self.conn.execute(sql).fetchall()]


class Executor:
    def __init__(self, query, deny_writes=False):
        self._query = query
        self.deny_writes = deny_writes
        self.lines, self.statements, self.artifacts = [], [], []

    async def run_sql(self, sql):
        if self.deny_writes and "issue_credit" in sql:
            raise PermissionError("The user did not approve the statement: " + sql.strip())
        rows = self._query(sql)
        self.statements.append({"sql": sql, "result": rows})
        return rows

    def store_artifact(self, identifier, title, artifact_type, data):
        assert artifact_type in ("table", "text", "chart")
        self.artifacts.append({"identifier": identifier, "title": title, "artifact_type": artifact_type, "data": data})

    def print(self, *args):
        self.lines.append(" ".join(str(a) for a in args))


def run_code(code, executor):
    """Run code with top-level await, returning the tool result in the engine's shape."""
    error = None
    try:
        compiled = compile(code, "<python_code>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(compiled, {"executor": executor})
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    except Exception:
        error = traceback.format_exc()
    return {
        "output": "".join(line + "\n" for line in executor.lines),
        "error": error,
        "sql_statements": executor.statements,
        "modified_artifacts": executor.artifacts,
    }


def ask(question):
    """One question, the demo's tool call, the code run, and the demo's final answer."""
    db = SQLiteDatabase()
    messages = [{"role": "user", "content": question}]
    first_text, calls = reply_to(messages)
    assert first_text.startswith(LABEL) and len(calls) == 1 and calls[0].name == "execute_python"
    code = calls[0].parsed()["python_code"]
    executor = Executor(db.query)
    result = run_code(code, executor)
    messages += [
        {"role": "assistant", "content": first_text, "tool_calls": [calls[0].to_message()]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": json.dumps(result, default=str)},
    ]
    final_text, final_calls = reply_to(messages)
    assert final_text.startswith(LABEL) and final_calls == []
    return code, result, final_text, db


def sql_of(code):
    """The SQL statements in the code's run_sql calls (string literals only)."""
    tree = ast.parse(code)
    return [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "run_sql"
        and isinstance(node.args[0], ast.Constant)
    ]


# --- classification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, kind, params",
    [
        ("Who are my top customers?", "top_customers", {"limit": 10}),
        ("top 5 customers by spend", "top_customers", {"limit": 5}),
        ("Show revenue by month", "revenue_by_month", {"year": None}),
        ("monthly sales in 2012", "revenue_by_month", {"year": "2012"}),
        ("How many customers, tracks and albums are there?", "counts",
         {"entities": [("customer", "customers"), ("track", "tracks"), ("album", "albums")]}),
        ("number of invoice lines", "counts", {"entities": [("invoice_line", "invoice_lines")]}),
        ("Show customer 5", "customer", {"customer_id": 5}),
        ("who is customer with email luisg@embraer.com.br", "customer", {"email": "luisg@embraer.com.br"}),
        ("tracks by AC/DC", "tracks_by_artist", {"artist": "AC/DC"}),
        ("List albums by Queen?", "albums_by_artist", {"artist": "Queen"}),
        ("refund customer 5 $20", "credit", {"customer_id": 5, "amount": "20.00"}),
        ("issue a credit of 20 to customer 5", "credit", {"customer_id": 5, "amount": "20.00"}),
        ("refund 7.5 dollars to luisg@embraer.com.br", "credit", {"email": "luisg@embraer.com.br", "amount": "7.50"}),
        ("refund customer 5", "credit_incomplete", {"customer_id": 5}),
    ],
)
def test_classify(question, kind, params):
    intent = classify(question)
    assert (intent.kind, intent.params) == (kind, params)


@pytest.mark.parametrize("question", ["hello", "What is the weather in Paris?", "how many customers are in Brazil?"])
def test_questions_beyond_the_demo_are_not_guessed(question):
    assert classify(question) is None


# --- the code it writes ----------------------------------------------------------------------

QUESTIONS = [
    "Who are my top customers?",
    "Show revenue by month in 2009",
    "How many customers, tracks, albums, invoices and artists are there?",
    "Show customer 5",
    "Who is the customer with email luisg@embraer.com.br?",
    "tracks by AC/DC",
    "albums by Queen",
    "tracks by O'Brien",
    "refund customer 5 $20",
    "refund luisg@embraer.com.br 15 dollars",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_code_compiles_and_sql_parses_for_both_engines(question):
    _, calls = reply_to([{"role": "user", "content": question}])
    code = calls[0].parsed()["python_code"]
    compile(code, "<python_code>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    statements = sql_of(code)
    assert statements, "the code runs SQL through executor.run_sql"
    assert "await executor.run_sql(" in code
    for sql in statements:
        for dialect in ("postgres", "sqlite"):
            assert sqlglot.parse_one(sql, read=dialect) is not None


def test_reads_are_reads_and_the_credit_is_an_action():
    sql_guard = pytest.importorskip("executor.sql_guard")
    for question in QUESTIONS:
        _, calls = reply_to([{"role": "user", "content": question}])
        for sql in sql_of(calls[0].parsed()["python_code"]):
            for dialect in ("postgresql", "sqlite"):
                verdict = sql_guard.classify(sql, dialect=dialect, actions=["issue_credit"])
                assert verdict.is_read == ("issue_credit" not in sql), (sql, dialect)


# --- each pattern, run end to end on SQLite --------------------------------------------------


def test_top_customers():
    code, result, answer, _ = ask("Who are my top customers?")
    assert result["error"] is None
    rows = result["modified_artifacts"][0]["data"]
    assert [r["customer_id"] for r in rows] == [6, 5, 1]
    assert rows[0]["total_spent"] == pytest.approx(49.62)
    assert "Top customer: Helena Holý (customer 6, Czech Republic) spent 49.62 over 3 invoices" in answer
    assert "Number 3 on the list: Luís Gonçalves spent 39.62" in answer
    assert "<artifact identifier='top_customers' />" in answer


def test_revenue_by_month_has_a_table_and_a_chart():
    code, result, answer, _ = ask("Show revenue by month")
    table, chart = result["modified_artifacts"]
    assert (table["identifier"], table["artifact_type"]) == ("revenue_by_month", "table")
    assert [r["month"] for r in table["data"]] == ["2009-01", "2009-02", "2012-03"]
    assert [r["revenue"] for r in table["data"]] == pytest.approx([60.62, 19.62, 49.62])
    assert chart["artifact_type"] == "chart"
    assert {k: chart["data"][k] for k in ("type", "x", "y")} == {"type": "line", "x": "month", "y": "revenue"}
    assert chart["data"]["rows"] == table["data"]
    assert "Total revenue: 129.86" in answer and "Best month: 2009-01 with 60.62" in answer
    assert "<artifact identifier='revenue_by_month' />" in answer
    assert "<artifact identifier='revenue_by_month_chart' />" in answer


def test_revenue_for_one_year():
    _, result, answer, _ = ask("revenue by month in 2012")
    assert [r["month"] for r in result["modified_artifacts"][0]["data"]] == ["2012-03"]
    assert "Months: 1" in answer


def test_counts():
    _, result, answer, _ = ask("How many customers, tracks and albums are there?")
    assert result["modified_artifacts"][0]["data"] == [{"customers": 3, "tracks": 4, "albums": 3}]
    for line in ("Number of customers: 3", "Number of tracks: 4", "Number of albums: 3"):
        assert line in answer


def test_customer_lookup_by_id_and_by_email():
    _, _, answer, _ = ask("Show customer 5")
    assert "Customer: František Wichterlová (customer 5), frantisekw@jetbrains.com, Prague, Czech Republic" in answer
    assert "Purchases: 1 invoices totalling 40.62" in answer
    _, _, answer, _ = ask("who is the customer with email LUISG@embraer.com.br")
    assert "Customer: Luís Gonçalves (customer 1)" in answer
    _, _, answer, _ = ask("Show customer 99")
    assert "No customer found with customer 99" in answer


def test_tracks_and_albums_by_artist():
    _, result, answer, _ = ask("tracks by ac/dc")
    assert [r["track"] for r in result["modified_artifacts"][0]["data"]] == [
        "For Those About To Rock (We Salute You)", "Put The Finger On You", "Go Down",
    ]
    assert "Tracks found: 3" in answer and "Artists matched: AC/DC" in answer
    assert "Albums: 2 (For Those About To Rock, Let There Be Rock)" in answer
    _, _, answer, _ = ask("albums by Queen")
    assert "Albums found: 1" in answer
    _, result, answer, _ = ask("tracks by O'Brien")  # a quote in the name is escaped, not injected
    assert result["error"] is None and "Tracks found: 0" in answer


def test_refund_runs_the_declared_action_and_stores_its_result():
    code, result, answer, db = ask("refund customer 5 $20")
    assert sql_of(code) == ["SELECT issue_credit(5, 20.00) AS credit_id"]
    assert result["error"] is None
    artifact = result["modified_artifacts"][0]
    assert (artifact["identifier"], artifact["artifact_type"], artifact["data"]) == ("credit_result", "table", [{"credit_id": 1}])
    assert db.query("SELECT customer_id, amount FROM credit") == [{"customer_id": 5, "amount": 20}]
    assert "Credit issued: id 1, 20.00 to customer 5" in answer
    assert "<artifact identifier='credit_result' />" in answer


def test_credit_by_email_looks_the_customer_up_first():
    code, result, answer, db = ask("issue a credit of 15 to luisg@embraer.com.br")
    assert result["error"] is None
    assert db.query("SELECT customer_id, amount FROM credit") == [{"customer_id": 1, "amount": 15}]
    assert "Credit issued: id 1, 15.00 to customer 1" in answer


def test_credit_for_an_unknown_email_changes_nothing_and_says_so():
    _, result, answer, db = ask("refund nobody@example.com $5")
    assert result["modified_artifacts"] == []
    assert "No credit was issued" in answer and "No customer found with email nobody@example.com" in answer
    assert "<artifact" not in answer and "Credit issued" not in answer
    assert db.query("SELECT COUNT(*) AS n FROM credit") == [{"n": 0}]


def test_denied_refund_is_reported_honestly():
    db = SQLiteDatabase()
    messages = [{"role": "user", "content": "refund customer 5 $20"}]
    _, calls = reply_to(messages)
    result = run_code(calls[0].parsed()["python_code"], Executor(db.query, deny_writes=True))
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [calls[0].to_message()]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": json.dumps(result)},
    ]
    answer, _ = reply_to(messages)
    assert answer.startswith(LABEL)
    assert "The credit was not issued" in answer and "did not approve" in answer
    assert "Credit issued" not in answer and "<artifact" not in answer
    assert db.query("SELECT COUNT(*) AS n FROM credit") == [{"n": 0}]


def test_failed_code_is_reported_without_invented_numbers():
    messages = [
        {"role": "user", "content": "Who are my top customers?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                                 "function": {"name": "execute_python", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps(
            {"output": "", "error": "Traceback (most recent call last):\nsqlite3.OperationalError: no such table: invoice",
             "sql_statements": [], "modified_artifacts": []})},
    ]
    answer, calls = reply_to(messages)
    assert calls == []
    assert "failed" in answer and "no such table: invoice" in answer
    assert not re.search(r"\d", answer.replace("no such table", "")[len(LABEL):].split("error was")[0])


def test_plain_text_tool_output_is_understood():
    messages = [
        {"role": "user", "content": "how many customers?"},
        {"role": "tool", "tool_call_id": "c1", "content": "Number of customers: 59\n"},
    ]
    answer, _ = reply_to(messages)
    assert "Number of customers: 59" in answer and "<artifact identifier='counts' />" in answer


# --- talking -----------------------------------------------------------------------------------


def test_unknown_question_gets_an_honest_answer_and_how_to_configure():
    answer, calls = reply_to([{"role": "user", "content": "Write me a poem about databases"}])
    assert calls == []
    assert answer.startswith(LABEL)
    assert "offline demo model" in answer
    for setting in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "QUERENT_MODEL"):
        assert setting in answer
    for example in demo_model.EXAMPLES:
        assert example in answer


def test_incomplete_refund_asks_for_what_is_missing():
    answer, calls = reply_to([{"role": "user", "content": "refund customer 5"}])
    assert calls == [] and answer.startswith(LABEL) and "amount" in answer


def test_streams_like_a_model_through_stream_chat():
    config = LLMConfig(base_url=None, api_key=None, model="gpt-4o-mini", timeout=1, max_retries=0)
    events = list(stream_chat([{"role": "user", "content": "Who are my top customers?"}], config=config))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    result = events[-1]
    assert isinstance(result, Completion) and len(deltas) > 3
    assert "".join(deltas) == result.text and result.text.startswith(LABEL)
    assert result.is_demo and result.model == "querent-demo" and result.finish_reason == "tool_calls"
    assert result.tool_calls[0].name == "execute_python"
    assert result.usage.cost_usd == 0 and result.usage.model == "querent-demo" and result.usage.total_tokens > 0


def test_is_deterministic():
    messages = [{"role": "user", "content": "Show revenue by month"}]
    (text_a, [call_a]), (text_b, [call_b]) = reply_to(messages), reply_to(messages)
    assert text_a == text_b and call_a.arguments == call_b.arguments


# --- the same code on PostgreSQL ---------------------------------------------------------------


@pytest.fixture
def postgres_query():
    psycopg = pytest.importorskip("psycopg")
    from psycopg.rows import dict_row

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("DATABASE_URL is not PostgreSQL")
    # Only temporary tables are created, so the server's maintenance database will do when the
    # app database does not exist yet (pytest-django creates its own test database).
    server_url = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    for candidate in (url, server_url):
        try:
            conn = psycopg.connect(candidate, connect_timeout=3, row_factory=dict_row)
            break
        except psycopg.OperationalError:
            continue
    else:
        pytest.skip("PostgreSQL is not reachable")
    # Temporary tables shadow any real ones and vanish with the connection; nothing is committed.
    pg_schema = SCHEMA.replace("CREATE TABLE", "CREATE TEMP TABLE")
    with conn:
        for statement in filter(str.strip, (pg_schema + DATA).split(";")):
            conn.execute(statement)
        yield lambda sql: conn.execute(sql).fetchall()
        conn.rollback()


@pytest.mark.parametrize("question", [q for q in QUESTIONS if "refund" not in q])
def test_read_code_runs_on_postgresql(postgres_query, question):
    sqlite_result = run_code(reply_to([{"role": "user", "content": question}])[1][0].parsed()["python_code"],
                             Executor(SQLiteDatabase().query))
    pg_result = run_code(reply_to([{"role": "user", "content": question}])[1][0].parsed()["python_code"],
                         Executor(postgres_query))
    assert pg_result["error"] is None, pg_result["error"]
    # Same printed summary on both engines (numbers print alike: Decimal('49.62') and 49.62 both as 49.62).
    assert pg_result["output"] == sqlite_result["output"]


# --- the real Chinook data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def chinook(tmp_path_factory):
    demo = pytest.importorskip("executor.demo")
    path = tmp_path_factory.mktemp("chinook") / "chinook.sqlite3"
    demo.load_demo(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    yield lambda sql: [dict(row) for row in conn.execute(sql).fetchall()]
    conn.close()


def answer_on(query, question):
    messages = [{"role": "user", "content": question}]
    _, calls = reply_to(messages)
    result = run_code(calls[0].parsed()["python_code"], Executor(query))
    assert result["error"] is None, result["error"]
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": json.dumps(result, default=str)})
    return reply_to(messages)[0]


@pytest.mark.parametrize("question", [q for q in QUESTIONS if "refund" not in q])
def test_every_read_pattern_runs_on_the_real_chinook_data(chinook, question):
    answer = answer_on(chinook, question)
    assert answer.startswith(LABEL) and "- " in answer


def test_answers_quote_the_real_chinook_numbers(chinook):
    assert "Top customer: Helena Holý (customer 6, Czech Republic) spent 49.62 over 7 invoices" in answer_on(
        chinook, "Who are my top customers?"
    )
    counts = answer_on(chinook, "How many customers, tracks, albums, invoices and artists are there?")
    for line in ("customers: 59", "tracks: 3503", "albums: 347", "invoices: 412", "artists: 275"):
        assert f"Number of {line}" in counts
    assert "Total revenue: 2328.60" in answer_on(chinook, "Show revenue by month")
