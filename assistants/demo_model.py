"""The offline demo model: a deterministic stand-in for an LLM when none is configured.

It recognises a few question patterns about the demo (Chinook) database and answers them the way a
real model would: a short text plus a real `execute_python` tool call, then, once the tool result
comes back, a final answer built only from what the code printed. Anything else gets an honest
"I am the offline demo model" answer that says how to configure a real one.
Every text it writes starts with LABEL so nobody mistakes it for a real model.

SQL is written to run unchanged on PostgreSQL and SQLite (the two demo database engines).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Iterator

from . import demo_files, demo_queries
from .llm import DEMO_MODEL, Completion, TextDelta, ToolCall, build_usage

LABEL = "[Demo model: offline, no LLM configured] "
MAX_ROWS = 500

# Each is a question the demo answers exactly as written (tests ask every one on the demo data).
EXAMPLES = [
    "Who are my top 10 customers?",
    "Show revenue by month in 2010",
    "How many tracks are there per genre?",
    "How many customers, tracks and albums are there?",
    "Show customer 5",
    "Who is the customer with email luisg@embraer.com.br?",
    "List tracks by AC/DC",
    "List albums by Queen",
    "Refund customer 7 $15",
]
EXAMPLE_NOTES = (
    "The data covers 2007 to 2011. The refund changes data, so you are asked to confirm it first. "
    "Questions about one table's rows, averages and totals per country, genre or month also work "
    "(\"What is the average track milliseconds?\", \"Show invoice total by month\"), and so do "
    "follow-ups to the last answer: \"Break this down by billing country\", \"Show only the top 5 ...\", "
    "\"only 2009\"."
)

HOW_TO_CONFIGURE = (
    "To use a real model, set OPENAI_API_KEY (and OPENAI_BASE_URL for any other OpenAI-compatible "
    "endpoint, such as a local Ollama or vLLM server) and QUERENT_MODEL, then restart Querent."
)


@dataclass
class Intent:
    kind: str
    params: dict = field(default_factory=dict)


# --- understanding the question --------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CUSTOMER_ID = re.compile(r"\bcustomer\s*(?:#|no\.?|number|id)?\s*(\d+)\b", re.I)
_AMOUNT_PATTERNS = [
    re.compile(r"\$\s*(\d+(?:\.\d{1,2})?)"),
    re.compile(r"\b(\d+(?:\.\d{1,2})?)\s*(?:dollars?|usd|bucks)\b", re.I),
    re.compile(r"\b(\d+(?:\.\d{1,2})?)\b"),
]
_CREDIT = re.compile(r"\b(refund|credit|reimburse|compensate)", re.I)
_BY_ARTIST = re.compile(r"\b(tracks|songs|albums)\s+(?:by|from|of)\s+(?:the\s+(?:artist|band)\s+)?(.+)", re.I)
_COUNT = re.compile(r"\b(how many|number of|count)\b", re.I)
_TOP_CUSTOMERS = re.compile(
    r"\b(top|best|biggest|largest|most valuable)\b.*\bcustomers?\b|\bcustomers?\b.*\b(spen[dt]|spending)\b"
    r"|\bspent the most\b",
    re.I,
)
_REVENUE = re.compile(r"\b(revenue|sales|income|turnover|earnings)\b", re.I)
_MONTHLY = re.compile(r"\b(month|months|monthly|over time|trend)\b", re.I)
# A count with a condition ("how many customers in Brazil") is beyond the demo: say so rather than
# answer a different question.
_PLAIN_SCOPE = re.compile(r"\b(in|on) (the|this|my|our) (database|db|store|catalog(ue)?)\b|\bin total\b|\baltogether\b", re.I)
_QUALIFIED = re.compile(r"\b(from|in|with|where|who|which|that|per|each|by|over|under|than|between|during|since|before|after|without)\b", re.I)
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")
_TOP_N = re.compile(r"\btop\s+(\d+)\b", re.I)

# Multi-word entities first, so "invoice lines" is not also counted as "invoices".
_COUNTABLE = [
    (r"invoice lines|invoice items|line items", "invoice_line", "invoice_lines"),
    (r"media types?", "media_type", "media_types"),
    (r"customers?|clients?", "customer", "customers"),
    (r"tracks?|songs?", "track", "tracks"),
    (r"albums?", "album", "albums"),
    (r"invoices?|orders?", "invoice", "invoices"),
    (r"artists?|bands?", "artist", "artists"),
    (r"employees?|staff|sales reps?", "employee", "employees"),
    (r"genres?", "genre", "genres"),
    (r"playlists?", "playlist", "playlists"),
    (r"credits?|refunds?", "credit", "credits"),
]


def classify(question: str) -> Intent | None:
    q = " ".join(question.split())
    if _CREDIT.search(q) and not _COUNT.search(q):
        return _credit_intent(q)
    if match := _BY_ARTIST.search(q):
        artist = match.group(2).strip().strip("?.!\"' ").strip()
        if artist:
            return Intent("albums_by_artist" if match.group(1).lower() == "albums" else "tracks_by_artist", {"artist": artist[:100]})
    if _COUNT.search(q) and not _QUALIFIED.search(_PLAIN_SCOPE.sub(" ", q)) and (entities := _countable_entities(q)):
        return Intent("counts", {"entities": entities})
    if _TOP_CUSTOMERS.search(q):
        n = int(m.group(1)) if (m := _TOP_N.search(q)) else 10
        return Intent("top_customers", {"limit": max(1, min(n, 100))})
    if _REVENUE.search(q) and _MONTHLY.search(q):
        return Intent("revenue_by_month", {"year": m.group(1) if (m := _YEAR.search(q)) else None})
    if match := _CUSTOMER_ID.search(q):
        return Intent("customer", {"customer_id": int(match.group(1))})
    if (match := _EMAIL.search(q)) and re.search(r"\b(customer|who|email|client)\b", q, re.I):
        return Intent("customer", {"email": match.group(0)})
    return None


def understand(messages: list[dict]) -> Intent | None:
    """The last question's intent, read with the conversation's earlier questions: a follow-up
    ("Break this down by billing country", "only 2009") changes the previous query. On uploaded
    files (a DuckDB source) the file questions come first (assistants.demo_files)."""
    if demo_files.applies(messages) and (questions := _user_texts(messages)):
        if (found := demo_files.intent(questions[-1])) is not None:
            return Intent("file", found)
    previous, intent = None, None
    for question in _user_texts(messages):
        intent = _understand_one(question, previous)
        if (query := _as_query(intent)) is not None:
            previous = query
    return intent


def _understand_one(question: str, previous: "demo_queries.Query | None") -> Intent | None:
    if (query := demo_queries.follow_up(question, previous)) is not None:
        return Intent("query", {"query": query})
    if (intent := classify(question)) is not None:
        return intent
    if (query := demo_queries.standalone(question)) is not None:
        return Intent("query", {"query": query})
    return None


def _as_query(intent: Intent | None) -> "demo_queries.Query | None":
    if intent is None:
        return None
    if intent.kind == "query":
        return intent.params["query"]
    if intent.kind == "revenue_by_month":
        return demo_queries.replace(demo_queries.REVENUE, year=intent.params.get("year"))
    return None


def _credit_intent(q: str) -> Intent:
    params: dict = {}
    rest = q
    if match := _CUSTOMER_ID.search(q):
        params["customer_id"] = int(match.group(1))
        rest = q[: match.start()] + " " + q[match.end():]
    elif match := _EMAIL.search(q):
        params["email"] = match.group(0)
        rest = q[: match.start()] + " " + q[match.end():]
    for pattern in _AMOUNT_PATTERNS:
        if (match := pattern.search(rest)) and float(match.group(1)) > 0:
            params["amount"] = f"{float(match.group(1)):.2f}"
            break
    complete = "amount" in params and ("customer_id" in params or "email" in params)
    return Intent("credit" if complete else "credit_incomplete", params)


def _countable_entities(q: str) -> list[tuple[str, str]]:
    found, rest = [], q.lower()
    for pattern, table, alias in _COUNTABLE:
        if match := re.search(rf"\b(?:{pattern})\b", rest):
            found.append((match.start(), table, alias))
            rest = rest[: match.start()] + " " * (match.end() - match.start()) + rest[match.end():]
    return [(table, alias) for _, table, alias in sorted(found)]


# --- writing the code ------------------------------------------------------------------------


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _py_str(value: str) -> str:
    """A Python literal for SQL text: one line in double quotes, several in triple quotes, repr() if unsafe."""
    if "\\" in value or '"""' in value or value.endswith('"'):
        return repr(value)
    if "\n" not in value:
        return f'"{value}"' if '"' not in value else repr(value)
    return f'"""\n{value}\n"""'


def _run_sql(var: str, sql: str) -> str:
    return f"{var} = await executor.run_sql({_py_str(sql.strip())})"


def _customer_filter(params: dict, alias: str = "c") -> str:
    if "customer_id" in params:
        return f"{alias}.id = {int(params['customer_id'])}"
    return f"lower({alias}.email) = lower({_sql_str(params['email'])})"


def _code_top_customers(p: dict) -> str:
    n = p["limit"]
    sql = f"""
SELECT c.id AS customer_id,
       c.first_name || ' ' || c.last_name AS customer,
       c.email,
       c.country,
       COUNT(i.id) AS invoices,
       ROUND(CAST(SUM(i.total) AS NUMERIC), 2) AS total_spent
FROM customer c
JOIN invoice i ON i.customer_id = c.id
GROUP BY c.id, c.first_name, c.last_name, c.email, c.country
ORDER BY total_spent DESC, c.id
LIMIT {n}"""
    return "\n".join([
        _run_sql("rows", sql),
        f"executor.store_artifact('top_customers', {f'Top {n} customers by total spend'!r}, 'table', rows)",
        'executor.print(f"Customers listed: {len(rows)}")',
        "if rows:",
        "    top, last = rows[0], rows[-1]",
        "    executor.print(f\"Top customer: {top['customer']} (customer {top['customer_id']}, {top['country']}) \"",
        "                   f\"spent {top['total_spent']} over {top['invoices']} invoices\")",
        "    executor.print(f\"Number {len(rows)} on the list: {last['customer']} spent {last['total_spent']}\")",
    ])


def _code_revenue_by_month(p: dict) -> str:
    month = "substr(CAST(invoice_date AS TEXT), 1, 7)"
    where = f"\nWHERE substr(CAST(invoice_date AS TEXT), 1, 4) = '{p['year']}'" if p.get("year") else ""
    sql = f"""
SELECT {month} AS month,
       ROUND(CAST(SUM(total) AS NUMERIC), 2) AS revenue,
       COUNT(*) AS invoices
FROM invoice{where}
GROUP BY {month}
ORDER BY month"""
    title = f"Revenue by month in {p['year']}" if p.get("year") else "Revenue by month"
    return "\n".join([
        _run_sql("rows", sql),
        f"executor.store_artifact('revenue_by_month', {title!r}, 'table', rows)",
        f"executor.store_artifact('revenue_by_month_chart', {title!r}, 'chart',",
        "                        {'type': 'line', 'x': 'month', 'y': 'revenue', 'rows': rows})",
        'executor.print(f"Months: {len(rows)}")',
        "if rows:",
        "    total = sum(float(r['revenue']) for r in rows)",
        "    best = max(rows, key=lambda r: float(r['revenue']))",
        "    executor.print(f\"Period: {rows[0]['month']} to {rows[-1]['month']}\")",
        '    executor.print(f"Total revenue: {total:.2f}")',
        "    executor.print(f\"Best month: {best['month']} with {float(best['revenue']):.2f}\")",
    ])


def _code_counts(p: dict) -> str:
    columns = ",\n       ".join(f"(SELECT COUNT(*) FROM {table}) AS {alias}" for table, alias in p["entities"])
    return "\n".join([
        _run_sql("rows", f"SELECT {columns}"),
        "executor.store_artifact('counts', 'Counts', 'table', rows)",
        "for name, value in rows[0].items():",
        "    executor.print(f\"Number of {name.replace('_', ' ')}: {value}\")",
    ])


def _code_customer(p: dict) -> str:
    sql = f"""
SELECT c.id AS customer_id, c.first_name, c.last_name, c.company, c.email, c.phone, c.city, c.country,
       COUNT(i.id) AS invoices,
       ROUND(CAST(COALESCE(SUM(i.total), 0) AS NUMERIC), 2) AS total_spent
FROM customer c
LEFT JOIN invoice i ON i.customer_id = c.id
WHERE {_customer_filter(p)}
GROUP BY c.id, c.first_name, c.last_name, c.company, c.email, c.phone, c.city, c.country"""
    who = f"customer {p['customer_id']}" if "customer_id" in p else f"email {p['email']}"
    title = f"Customer {p['customer_id']}" if "customer_id" in p else f"Customer with email {p['email']}"
    return "\n".join([
        _run_sql("rows", sql),
        f"executor.store_artifact('customer_lookup', {title!r}, 'table', rows)",
        "if rows:",
        "    c = rows[0]",
        "    executor.print(f\"Customer: {c['first_name']} {c['last_name']} (customer {c['customer_id']}), \"",
        "                   f\"{c['email']}, {c['city']}, {c['country']}\")",
        "    executor.print(f\"Purchases: {c['invoices']} invoices totalling {c['total_spent']}\")",
        "else:",
        f"    executor.print({f'No customer found with {who}'!r})",
    ])


def _code_by_artist(p: dict, albums: bool) -> str:
    pattern = _sql_str("%" + p["artist"] + "%")
    if albums:
        sql = f"""
SELECT ar.name AS artist, al.title AS album, COUNT(t.id) AS tracks
FROM album al
JOIN artist ar ON ar.id = al.artist_id
LEFT JOIN track t ON t.album_id = al.id
WHERE lower(ar.name) LIKE lower({pattern})
GROUP BY ar.name, al.id, al.title
ORDER BY ar.name, al.title
LIMIT {MAX_ROWS}"""
        identifier, noun = "albums_by_artist", "Albums"
    else:
        sql = f"""
SELECT ar.name AS artist, al.title AS album, t.name AS track, g.name AS genre,
       t.milliseconds / 1000 AS seconds, t.unit_price
FROM track t
JOIN album al ON al.id = t.album_id
JOIN artist ar ON ar.id = al.artist_id
LEFT JOIN genre g ON g.id = t.genre_id
WHERE lower(ar.name) LIKE lower({pattern})
ORDER BY ar.name, al.title, t.id
LIMIT {MAX_ROWS}"""
        identifier, noun = "tracks_by_artist", "Tracks"
    title = f"{noun} by {p['artist']}"
    return "\n".join([
        _run_sql("rows", sql),
        f"executor.store_artifact({identifier!r}, {title!r}, 'table', rows)",
        f'executor.print(f"{noun} found: {{len(rows)}}{{\' (limit reached)\' if len(rows) == {MAX_ROWS} else \'\'}}")',
        "if rows:",
        "    executor.print(f\"Artists matched: {', '.join(sorted({r['artist'] for r in rows}))}\")",
        *([] if albums else [
            "    albums = sorted({r['album'] for r in rows})",
            "    executor.print(f\"Albums: {len(albums)} ({', '.join(albums[:5])}{', ...' if len(albums) > 5 else ''})\")",
        ]),
    ])


def _code_credit(p: dict) -> str:
    amount = p["amount"]
    store = [
        f"executor.store_artifact('credit_result', 'Credit of {amount} for ' + who, 'table', rows)",
        f"executor.print(f\"Credit issued: id {{rows[0]['credit_id']}}, {amount} to {{who}}\")",
    ]
    if "customer_id" in p:
        cid = int(p["customer_id"])
        return "\n".join([
            "# issue_credit is a declared action: Querent asks the user to confirm before it runs.",
            _run_sql("rows", f"SELECT issue_credit({cid}, {amount}) AS credit_id"),
            f"who = 'customer {cid}'",
            *store,
        ])
    lookup = f"SELECT id FROM customer WHERE lower(email) = lower({_sql_str(p['email'])})"
    return "\n".join([
        _run_sql("found", lookup),
        "if not found:",
        f"    executor.print({'No customer found with email ' + p['email']!r})",
        "else:",
        "    # issue_credit is a declared action: Querent asks the user to confirm before it runs.",
        f"    rows = await executor.run_sql(f\"SELECT issue_credit({{found[0]['id']}}, {amount}) AS credit_id\")",
        "    who = f\"customer {found[0]['id']}\"",
        *("    " + line for line in store),
    ])


def code_for(intent: Intent) -> str:
    writers = {
        "top_customers": _code_top_customers,
        "revenue_by_month": _code_revenue_by_month,
        "counts": _code_counts,
        "customer": _code_customer,
        "tracks_by_artist": lambda p: _code_by_artist(p, albums=False),
        "albums_by_artist": lambda p: _code_by_artist(p, albums=True),
        "credit": _code_credit,
        "query": lambda p: demo_queries.code_for(p["query"]),
        "file": demo_files.code_for,
    }
    return writers[intent.kind](intent.params)


# --- what it says ----------------------------------------------------------------------------

# Per intent: the sentence before the tool call, the lead of the final answer, the line prefixes the
# code prints (only those are quoted back) and the artifacts it stores.
_SPEECH = {
    "top_customers": ("I'll rank customers by the sum of their invoice totals.",
                      "Here are your top customers by total spend:",
                      ("Customers listed:", "Top customer:", "Number "), ("top_customers",)),
    "revenue_by_month": ("I'll add up invoice totals per month and chart them.",
                         "Here is revenue by month, summed from invoice totals:",
                         ("Months:", "Period:", "Total revenue:", "Best month:"), ("revenue_by_month", "revenue_by_month_chart")),
    "counts": ("I'll count the rows in the relevant tables.", "Here are the counts:",
               ("Number of ",), ("counts",)),
    "customer": ("I'll look up that customer and their purchases.", "Here is what the database has:",
                 ("Customer:", "Purchases:", "No customer found"), ("customer_lookup",)),
    "tracks_by_artist": ("I'll search the catalogue for that artist's tracks.", "Here is what I found in the catalogue:",
                         ("Tracks found:", "Artists matched:", "Albums:"), ("tracks_by_artist",)),
    "albums_by_artist": ("I'll search the catalogue for that artist's albums.", "Here is what I found in the catalogue:",
                         ("Albums found:", "Artists matched:"), ("albums_by_artist",)),
    "credit": ("I'll issue the credit with the issue_credit action. It changes data, so you will be asked to confirm it first.",
               "Done:", ("Credit issued:", "No customer found"), ("credit_result",)),
    "query": ("I'll answer that with one SQL query over the demo database.", "Here is what the data says:",
              ("Result:", "Values:", "Highest:", "Lowest:"), ("query_result", "query_chart")),
}


# A conversation summary is asked for with this system message (sessions.julep_context); the demo
# model answers it by extracting the questions and the first sentence of each answer.
SUMMARY_REQUEST = "Summarise the conversation transcript below"
_TURN = re.compile(r"^(User|Assistant|Earlier summary): (.*)$")


def _summary_of(transcript: str) -> str:
    asked, answered, earlier = [], [], ""
    for line in transcript.splitlines():
        match = _TURN.match(line.strip())
        if not match:
            continue
        who, said = match.groups()
        if who == "Earlier summary":
            earlier = said.removeprefix(LABEL).strip()
        elif who == "User":
            asked.append(said.strip()[:160])
        else:
            first = re.split(r"(?<=[.!?])\s", said.removeprefix(LABEL).strip(), maxsplit=1)[0]
            answered.append(first[:160])
    parts = [earlier] if earlier else []
    if asked:
        parts.append("The user asked: " + "; ".join(f"\u201c{q}\u201d" for q in asked[-6:]) + ".")
    if answered:
        parts.append("The assistant answered: " + "; ".join(f"\u201c{a}\u201d" for a in answered[-6:]) + ".")
    return " ".join(parts) or "Nothing of substance was said yet."


def reply_to(messages: list[dict]) -> tuple[str, list[ToolCall]]:
    """The demo model's reply to a conversation: (text, tool calls)."""
    last = messages[-1] if messages else {}
    if messages and messages[0].get("role") == "system" and str(messages[0].get("content") or "").startswith(SUMMARY_REQUEST):
        return LABEL + _summary_of(_last_user_text(messages)), []
    intent = understand(messages)
    if last.get("role") == "tool":
        return LABEL + _final_answer(intent, _tool_result(last.get("content"))), []
    if last.get("role") != "user" or intent is None:
        return LABEL + _fallback_text(), []
    if intent.kind == "credit_incomplete":
        return LABEL + (
            "To issue a credit I need both the customer and the amount, for example "
            "'refund customer 5 $20' or 'issue a credit of 20 to customer 5'."
        ), []
    arguments = json.dumps({"python_code": code_for(intent)})
    call = ToolCall(id=f"call_demo_{uuid.uuid4().hex[:20]}", name="execute_python", arguments=arguments)
    return LABEL + _speech(intent)[0], [call]


def _speech(intent: Intent) -> tuple:
    return demo_files.SPEECH[intent.params["kind"]] if intent.kind == "file" else _SPEECH[intent.kind]


def _fallback_text() -> str:
    examples = "\n".join(f"- {example}" for example in EXAMPLES)
    return (
        "I am Querent's offline demo model, not a real language model, so I did not understand that. I can "
        f"answer questions like these about the demo music store database:\n{examples}\n\n{EXAMPLE_NOTES}\n\n{HOW_TO_CONFIGURE}"
    )


def _final_answer(intent: Intent | None, result: dict) -> str:
    error = (result.get("error") or "").strip()
    output_lines = [line.strip() for line in (result.get("output") or "").splitlines() if line.strip()]
    if error:
        last_line = error.splitlines()[-1].strip()
        if intent and intent.kind == "credit":
            return f"The credit was not issued. The action reported: {last_line}"
        return f"The code I ran failed, so I have no results to report. The error was: {last_line}"
    if intent is None or (intent.kind not in _SPEECH and intent.kind != "file"):
        quoted = "\n".join(f"- {line}" for line in output_lines[:10]) or "- (nothing was printed)"
        return f"The code finished. It printed:\n{quoted}"
    _, lead, prefixes, artifacts = _speech(intent)
    quoted = [f"- {line}" for line in output_lines if line.startswith(prefixes)]
    if any(line.startswith("- No customer found") for line in quoted):
        lead = "I could not find that customer:" if intent.kind == "customer" else "No credit was issued:"
    if "modified_artifacts" in result:  # a structured result says exactly what was stored
        stored = {a.get("identifier") for a in result["modified_artifacts"] or [] if isinstance(a, dict)}
        artifacts = tuple(a for a in artifacts if a in stored)
    parts = [lead, "\n".join(quoted) if quoted else "- The code ran but printed no summary; see the table below."]
    parts += [f"<artifact identifier='{identifier}' />" for identifier in artifacts]
    return "\n\n".join(parts)


def _tool_result(content) -> dict:
    """The tool message content as {output, error, ...}, whether it arrives as JSON, a dict or plain text."""
    if isinstance(content, list):  # content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return {"output": content, "error": None}
    if isinstance(content, dict):
        inner = content.get("output")
        if isinstance(inner, dict):  # the seed's {"call_id", "output": {...}} envelope
            content = inner
        return content
    return {"output": str(content or ""), "error": None}


def _user_texts(messages: list[dict]) -> list[str]:
    texts = []
    for message in messages:
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            texts.append(content or "")
    return texts


def _last_user_text(messages: list[dict]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content or ""
    return ""


# --- streaming like a real model -------------------------------------------------------------


def stream(messages: list[dict]) -> Iterator[TextDelta | Completion]:
    text, calls = reply_to(messages)
    words = text.split(" ")
    for index, word in enumerate(words):
        yield TextDelta(word if index == 0 else " " + word)
    usage = build_usage(None, DEMO_MODEL, DEMO_MODEL, messages, None, text, calls)
    # The demo model costs nothing: the cost is known to be zero, not unknown.
    usage.cost_usd, usage.priced = 0.0, True
    finish_reason = "tool_calls" if calls else "stop"
    yield Completion(text=text, tool_calls=calls, usage=usage, finish_reason=finish_reason, model=DEMO_MODEL, is_demo=True)
