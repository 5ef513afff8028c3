"""BI chat sessions end to end: real daphne + Celery worker on PostgreSQL and Redis, scripted LLM,
Chinook demo data. Replays seed 003's curl sequence call for call, then tenancy and failure cases."""

import threading
import time
import uuid
from decimal import Decimal

import psycopg
import pytest

from sessions.bi.insights import fmt
from tests.fakes.llm_server import delay, error, text, tool_call
from tests.support.principals import api_user, headers

from .conftest import Api

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MONTHLY_SQL = (
    "SELECT date_trunc('month', invoice_date) AS month, SUM(total) AS total_revenue FROM invoice "
    "WHERE invoice_date >= '2010-01-01' AND invoice_date < '2011-01-01' GROUP BY 1 ORDER BY 1"
)
BY_GENRE_SQL = (
    "SELECT date_trunc('month', i.invoice_date) AS month, g.name AS genre, SUM(il.unit_price * il.quantity) AS total_revenue "
    "FROM invoice i JOIN invoice_line il ON il.invoice_id = i.id JOIN track t ON t.id = il.track_id "
    "JOIN genre g ON g.id = t.genre_id WHERE i.invoice_date >= '2010-01-01' AND i.invoice_date < '2011-01-01' "
    "GROUP BY 1, 2 ORDER BY 1, 2"
)
COUNTRY_SQL = "SELECT billing_country AS country, SUM(total) AS revenue FROM invoice GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 8"
COUNT_SQL = "SELECT COUNT(*) AS customers FROM customer"


def run_sql_code(sql: str) -> str:
    return f'rows = executor.run_sql("""{sql}""")\nexecutor.print(f"{{len(rows)}} rows")'


def script_query(llm, question: str, sql: str, answer: str):
    llm.script([tool_call(run_sql_code(sql), text="Let me query that."), text(answer)], match=question)


def demo_rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def number(value) -> float:
    return float(value) if isinstance(value, (int, float, Decimal)) else float(str(value))


def system_prompt(request: dict) -> str:
    return request["messages"][0]["content"]


def test_seed_003_sequence(stack, llm, shared_demo, demo_pg_url):
    """Each call of the seed, in order, as a client of tenant acme-corp would make it."""
    user = api_user(tenant="acme-corp", user_id="analyst")
    api = Api(stack.base_url, None)
    auth = headers(user)
    tenant = {**auth, "X-Tenant-ID": "acme-corp"}

    # Create a new session
    created = api.post("/api/v1/bi/sessions", json={"user_id": "user-123"}, headers=tenant)
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"session_id", "tenant_id", "created_at"}
    assert body["tenant_id"] == "acme-corp"
    session_id = body["session_id"]
    uuid.UUID(session_id)

    # Send a message
    question = "Show me monthly revenue for 2010"
    script_query(llm, question, MONTHLY_SQL, "Here is the monthly revenue breakdown for 2010.")
    answer = api.post(f"/api/v1/bi/sessions/{session_id}/messages", json={"message": question}, headers=tenant)
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["success"] is True
    assert reply["response"] == "Here is the monthly revenue breakdown for 2010."
    assert reply["intent"] == "query_data"
    assert reply["sql"] == MONTHLY_SQL
    assert reply["visualization"] == {"type": "line", "x": "month", "y": "total_revenue", "series": None}
    expected = demo_rows(demo_pg_url, MONTHLY_SQL)
    assert reply["data"]["columns"] == ["month", "total_revenue"]
    assert [(r["month"][:10], number(r["total_revenue"])) for r in reply["data"]["rows"]] == [
        (m.date().isoformat(), float(v)) for m, v in expected
    ]
    peak = max(expected, key=lambda r: r[1])
    low = min(expected, key=lambda r: r[1])
    assert reply["insights"][0] == f"Total revenue peaked in {peak[0]:%Y-%m} at {fmt(float(peak[1]))}"
    assert reply["insights"][1] == f"Lowest month was {low[0]:%Y-%m} at {fmt(float(low[1]))}"
    assert f"summed over 12 month values: {fmt(float(sum(v for _, v in expected)))}" in reply["insights"][3]
    assert reply["agents_visited"] == ["router", "sql", "visualization", "insights"]
    assert isinstance(reply["execution_time_ms"], int) and reply["execution_time_ms"] > 0
    first_request = llm.requests[0]
    assert "SQL step of a BI assistant" in system_prompt(first_request)
    assert first_request["messages"][-1] == {"role": "user", "content": question}

    # Refine current query: the model is handed the last SQL
    refinement = "Break this down by product category"
    script_query(llm, refinement, BY_GENRE_SQL, "Here is the 2010 revenue by month and genre.")
    refined = api.post(f"/api/v1/bi/sessions/{session_id}/refine", json={"refinement": refinement}, headers=tenant)
    assert refined.status_code == 200, refined.text
    refined = refined.json()
    assert refined["success"] is True and refined["intent"] == "refine"
    assert refined["sql"] == BY_GENRE_SQL
    assert refined["visualization"] == {"type": "line", "x": "month", "y": "total_revenue", "series": "genre"}
    assert refined["data"]["columns"] == ["month", "genre", "total_revenue"]
    assert len(refined["data"]["rows"]) == len(demo_rows(demo_pg_url, BY_GENRE_SQL))
    assert refined["agents_visited"] == ["sql", "visualization", "insights"]
    refine_request = llm.requests[2]
    assert "refining the previous query" in system_prompt(refine_request)
    assert MONTHLY_SQL in system_prompt(refine_request)
    assert refine_request["messages"][-1] == {"role": "user", "content": refinement}
    requests_so_far = len(llm.requests)

    # Change visualization (the seed sends no tenant header: the key's own tenant is acme-corp)
    chart = api.post(f"/api/v1/bi/sessions/{session_id}/visualization", json={"chart_type": "stacked_bar"}, headers=auth)
    assert chart.status_code == 200, chart.text
    chart = chart.json()
    assert chart["visualization"] == {"type": "stacked_bar", "x": "month", "y": "total_revenue", "series": "genre"}
    assert chart["data"] == refined["data"] and chart["sql"] == BY_GENRE_SQL
    assert len(llm.requests) == requests_so_far  # re-rendered, not re-run

    # Get suggestions
    suggested = api.get(f"/api/v1/bi/sessions/{session_id}/suggestions", headers=auth)
    assert suggested.status_code == 200, suggested.text
    suggestions = suggested.json()["suggestions"]
    assert suggestions[0] == "Break this down by billing country"  # invoice.billing_country, read by the query
    assert "Which month had the highest total revenue?" in suggestions
    assert 3 <= len(suggestions) <= 5

    # Get history
    history = api.get(f"/api/v1/bi/sessions/{session_id}/history?limit=20", headers=auth)
    assert history.status_code == 200, history.text
    messages = history.json()["messages"]
    assert [(m["role"], m["intent"]) for m in messages] == [
        ("user", "query_data"), ("assistant", "query_data"), ("user", "refine"), ("assistant", "refine"),
    ]
    assert [m["content"] for m in messages] == [
        question, "Here is the monthly revenue breakdown for 2010.", refinement, "Here is the 2010 revenue by month and genre.",
    ]
    assert messages[1]["sql"] == MONTHLY_SQL and messages[3]["sql"] == BY_GENRE_SQL
    last_two = api.get(f"/api/v1/bi/sessions/{session_id}/history?limit=2", headers=auth).json()["messages"]
    assert [m["content"] for m in last_two] == [refinement, "Here is the 2010 revenue by month and genre."]

    # List sessions
    other = api.post("/api/v1/bi/sessions", json={"user_id": "user-999"}, headers=tenant).json()["session_id"]
    listed = api.get("/api/v1/bi/sessions?tenant_id=acme-corp&user_id=user-123", headers=auth)
    assert listed.status_code == 200, listed.text
    listed = listed.json()
    assert [s["session_id"] for s in listed["sessions"]] == [session_id] and listed["total"] == 1
    assert listed["sessions"][0]["user_id"] == "user-123" and listed["sessions"][0]["last_sql"] == BY_GENRE_SQL
    everyone = api.get("/api/v1/bi/sessions?tenant_id=acme-corp", headers=auth).json()
    assert {s["session_id"] for s in everyone["sessions"]} == {session_id, other}

    # Delete session
    thread_id = listed["sessions"][0]["thread_id"]
    deleted = api.delete(f"/api/v1/bi/sessions/{session_id}?tenant_id=acme-corp", headers=auth)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"success": True, "session_id": session_id}
    assert api.get(f"/api/v1/bi/sessions/{session_id}", headers=auth).status_code == 404
    assert api.get(f"/threads/{thread_id}", headers=auth).status_code == 404  # its messages went with it
    assert api.delete(f"/api/v1/bi/sessions/{session_id}?tenant_id=acme-corp", headers=auth).status_code == 404


def _session_with_result(api: Api, llm, tenant_headers: dict, user_id="user-a") -> str:
    session_id = api.post("/api/v1/bi/sessions", json={"user_id": user_id}, headers=tenant_headers).json()["session_id"]
    question = f"revenue by country {uuid.uuid4().hex[:6]}"
    script_query(llm, question, COUNTRY_SQL, "Revenue by country.")
    reply = api.post(f"/api/v1/bi/sessions/{session_id}/messages", json={"message": question}, headers=tenant_headers).json()
    assert reply["success"] and reply["visualization"]["type"] == "bar"
    return session_id


def test_a_tenant_never_sees_refines_or_deletes_another_tenants_session(stack, llm, shared_demo, service_token):
    service = Api(stack.base_url, service_token)
    as_a, as_b = {"X-Tenant-ID": "tenant-a"}, {"X-Tenant-ID": "tenant-b"}
    session_id = _session_with_result(service, llm, as_a)
    b_session = service.post("/api/v1/bi/sessions", json={"user_id": "user-b"}, headers=as_b).json()["session_id"]
    requests_before = len(llm.requests)
    base = f"/api/v1/bi/sessions/{session_id}"

    attempts = [
        ("GET", base, None), ("GET", f"{base}/", None),
        ("POST", f"{base}/messages", {"message": "Show me monthly revenue"}),
        ("POST", f"{base}/refine", {"refinement": "only Canada"}),
        ("POST", f"{base}/visualization", {"chart_type": "pie"}),
        ("GET", f"{base}/suggestions", None), ("GET", f"{base}/history?limit=5", None),
        ("DELETE", f"{base}?tenant_id=tenant-b", None), ("DELETE", base, None),
    ]
    for method, path, body in attempts:
        response = service.request(method, path, json=body, headers=as_b)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == "session not found"
    # The tenant can also be named in the query string instead of the header.
    assert service.get(f"{base}/history?tenant_id=tenant-b").status_code == 404
    assert len(llm.requests) == requests_before  # nothing ran for tenant B

    listed_b = service.get("/api/v1/bi/sessions?tenant_id=tenant-b").json()["sessions"]
    assert [s["session_id"] for s in listed_b] == [b_session]
    listed_a = service.get("/api/v1/bi/sessions", headers=as_a).json()["sessions"]
    assert [s["session_id"] for s in listed_a] == [session_id]
    mismatch = service.get("/api/v1/bi/sessions?tenant_id=tenant-a", headers=as_b)
    assert mismatch.status_code == 400 and "does not match the X-Tenant-ID" in mismatch.json()["detail"]

    # An ordinary key of tenant B may not act for tenant A at all.
    ordinary_b = Api(stack.base_url, None)
    b_user = headers(api_user(tenant="tenant-b"))
    refused = ordinary_b.get(base, headers={**b_user, "X-Tenant-ID": "tenant-a"})
    assert refused.status_code == 401 and "may not act for tenant 'tenant-a'" in refused.json()["detail"]
    forbidden = ordinary_b.delete(f"{base}?tenant_id=tenant-a", headers=b_user)
    assert forbidden.status_code == 403
    assert ordinary_b.get(base, headers=b_user).status_code == 404
    assert [s["session_id"] for s in ordinary_b.get("/api/v1/bi/sessions", headers=b_user).json()["sessions"]] == [b_session]

    # Tenant A's session is untouched: same result, same history.
    detail = service.get(base, headers=as_a).json()
    assert detail["last_sql"] == COUNTRY_SQL and detail["visualization"]["type"] == "bar"
    assert len(service.get(f"{base}/history", headers=as_a).json()["messages"]) == 2
    assert service.delete(base, headers=as_a).status_code == 200


def test_intents_explain_chit_chat_and_refine_by_message(stack, llm, shared_demo, service_token, demo_pg_url):
    api = Api(stack.base_url, service_token, tenant="tenant-intents")
    session_id = api.post("/api/v1/bi/sessions", json={"user_id": "u1"}).json()["session_id"]
    base = f"/api/v1/bi/sessions/{session_id}"

    llm.script([text("Hello! Ask me about your sales, customers or tracks.")], match="hello")
    hello = api.post(f"{base}/messages", json={"message": "hello!"}).json()
    assert hello["intent"] == "chit_chat" and hello["agents_visited"] == ["router", "chat"]
    assert hello["sql"] is None and hello["data"] is None and hello["insights"] == []
    assert "tools" not in llm.requests[-1] and "small talk" in system_prompt(llm.requests[-1])

    script_query(llm, "How many customers", COUNT_SQL, "There are 59 customers.")
    count = api.post(f"{base}/messages", json={"message": "How many customers are there?"}).json()
    customers = demo_rows(demo_pg_url, COUNT_SQL)[0][0]
    assert count["intent"] == "query_data" and count["visualization"] == {"type": "kpi", "x": None, "y": "customers", "series": None}
    assert count["data"]["rows"] == [{"customers": customers}] and count["insights"] == [f"Customers: {customers}"]

    llm.script([text("It counts every row of the customer table.")], match="Explain")
    explained = api.post(f"{base}/messages", json={"message": "Explain this result"}).json()
    assert explained["intent"] == "explain" and explained["agents_visited"] == ["router", "explain"]
    assert explained["sql"] == COUNT_SQL and explained["response"] == "It counts every row of the customer table."
    assert "tools" not in llm.requests[-1] and COUNT_SQL in system_prompt(llm.requests[-1])

    refine_sql = "SELECT country, COUNT(*) AS customers FROM customer GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
    script_query(llm, "now split it by country", refine_sql, "Customers per country.")
    by_country = api.post(f"{base}/messages", json={"message": "now split it by country"}).json()
    assert by_country["intent"] == "refine" and by_country["agents_visited"] == ["router", "sql", "visualization", "insights"]
    assert by_country["visualization"] == {"type": "bar", "x": "country", "y": "customers", "series": None}
    top_country, top_count = demo_rows(demo_pg_url, refine_sql)[0]
    assert by_country["insights"][0].startswith(f"{top_country} has the highest customers at {top_count} (")
    assert COUNT_SQL in system_prompt(llm.requests[-2])

    pie = api.post(f"{base}/visualization", json={"chart_type": "pie"}).json()
    assert pie["visualization"] == {"type": "pie", "x": "country", "y": "customers", "series": None}
    assert pie["agents_visited"] == ["visualization", "insights"]


def test_bad_input_and_state_errors_are_json_4xx(stack, llm, shared_demo, service_token):
    api = Api(stack.base_url, service_token, tenant="tenant-errors")
    session_id = api.post("/api/v1/bi/sessions", json={"user_id": "u1"}).json()["session_id"]
    base = f"/api/v1/bi/sessions/{session_id}"

    def bad(response, status, *needles):
        assert response.status_code == status, response.text
        body = response.json()
        for needle in needles:
            assert needle in body["detail"], body
        return body

    bad(api.post("/api/v1/bi/sessions", json={}), 400, "user_id")
    bad(api.post("/api/v1/bi/sessions", json={"user_id": 5}), 400, "user_id", "string")
    bad(api.post("/api/v1/bi/sessions", json={"user_id": "u", "agent_id": str(uuid.uuid4())}), 404, "agent_id", "not found")
    bad(api.post("/api/v1/bi/sessions", json={"user_id": "u", "metadata": []}), 400, "metadata")
    bad(api.post("/api/v1/bi/sessions", content=b"{not json", headers={"Content-Type": "application/json"}), 400, "JSON parse error")
    bad(api.post("/api/v1/bi/sessions", content=b"x" * (3 * 1024 * 1024), headers={"Content-Type": "application/json"}), 413)
    bad(api.post(f"{base}/messages", json={"message": ["hi"]}), 400, "message")
    bad(api.post(f"{base}/messages", json={"message": ""}), 400, "message")
    bad(api.post(f"{base}/refine", json={"refinement": "only 2010"}), 409, "no query to refine")
    bad(api.post(f"{base}/visualization", json={"chart_type": "bar"}), 409, "no result to visualize")
    unknown = bad(api.post(f"{base}/visualization", json={"chart_type": "donut"}), 400, "unknown chart type 'donut'", "stacked_bar")
    assert unknown["valid_types"] == ["area", "bar", "horizontal_bar", "kpi", "line", "pie", "scatter", "stacked_bar", "table"]
    bad(api.get(f"{base}/history?limit=abc"), 400, "limit")
    bad(api.get(f"{base}/history?limit=0"), 400, "limit")
    bad(api.get("/api/v1/bi/sessions?limit=5000"), 400, "limit")
    bad(api.get(f"/api/v1/bi/sessions/{uuid.uuid4()}"), 404, "session not found")
    bad(api.get("/api/v1/bi/sessions/not-a-uuid/history"), 404, "session not found")
    bad(api.put(base, json={}), 405)
    assert Api(stack.base_url, None).get("/api/v1/bi/sessions").status_code == 401

    # A result that one chart cannot show is a 400 that says why; the session keeps its chart.
    script_query(llm, "customers count", COUNT_SQL, "59.")
    api.post(f"{base}/messages", json={"message": "customers count"})
    bad(api.post(f"{base}/visualization", json={"chart_type": "scatter"}), 400, "two numeric columns")
    assert api.get(base).json()["visualization"]["type"] == "kpi"

    # The model failing is an answer with success false, not a crash.
    llm.script([error(401, "Incorrect API key provided")], match="broken question")
    failed = api.post(f"{base}/messages", json={"message": "broken question"})
    assert failed.status_code == 200, failed.text
    failed = failed.json()
    assert failed["success"] is False and "language model failed" in failed["error"]
    assert failed["sql"] is None and failed["agents_visited"] == ["router", "sql"]


def test_one_answer_at_a_time_per_session(stack, llm, shared_demo, service_token):
    api = Api(stack.base_url, service_token, tenant="tenant-busy")
    session_id = api.post("/api/v1/bi/sessions", json={"user_id": "u1"}).json()["session_id"]
    base = f"/api/v1/bi/sessions/{session_id}"
    llm.script([delay(2.0, text("Slow answer."))], match="slow question")
    first = {}
    worker = threading.Thread(target=lambda: first.update(r=api.post(f"{base}/messages", json={"message": "slow question"})))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not llm.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = api.post(f"{base}/messages", json={"message": "hello"})
        assert busy.status_code == 409 and "still being answered" in busy.json()["detail"]
        assert api.delete(base).status_code == 409
        # Other requests are not held up by the waiting one.
        assert api.get(f"{base}/history", timeout=1.5).status_code == 200
    finally:
        worker.join(30)
    assert first["r"].status_code == 200 and first["r"].json()["response"] == "Slow answer."
    assert api.delete(base).status_code == 200
