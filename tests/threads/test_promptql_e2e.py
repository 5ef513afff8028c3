"""PromptQL threads end to end: real daphne + Celery worker (PostgreSQL + Redis, or embedded), scripted LLM.

Replays both examples of seed 000 event for event, on the Chinook demo data.
"""

import threading
import uuid

import httpx
import pytest

from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sources import query as demo_query
from tests.support.sse import iter_sse, read_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOP_CUSTOMERS_CODE = '''sql_totals = """
SELECT customer_id, SUM(total) AS total_spent
FROM invoice
GROUP BY customer_id
ORDER BY total_spent DESC, customer_id
LIMIT 10
"""
top_customers = executor.run_sql(sql_totals)
ids = ','.join(str(c['customer_id']) for c in top_customers)
details = executor.run_sql(f"SELECT id, first_name, last_name, email FROM customer WHERE id IN ({ids})")
by_id = {c['id']: c for c in details}
rows = [
    {'Customer ID': c['customer_id'], 'Name': by_id[c['customer_id']]['first_name'] + ' ' + by_id[c['customer_id']]['last_name'],
     'Email': by_id[c['customer_id']]['email'], 'Total Spent': f"${c['total_spent']:.2f}"}
    for c in top_customers
]
executor.store_artifact('top_customers', 'Top 10 Customers by Total Spending', 'table', rows)
executor.print(f"Total number of top customers retrieved: {len(rows)}")
executor.print(f"Highest amount spent: {rows[0]['Total Spent']}")'''

REFUND_CODE = (
    "refund_data = await executor.run_sql(\"SELECT issue_credit(5, 20.00) AS credit_id\")\n"
    "executor.store_artifact('refund_result', 'Refund Result', 'table', refund_data)"
)
REFUND_SQL = "SELECT issue_credit(5, 20.00) AS credit_id"


def post_stream(stack, user, path, body):
    return httpx.stream("POST", f"{stack.base_url}{path}", json=body, headers=headers(user), timeout=60)


def test_top_customers_replays_seed_example_one(stack, llm, tenant_demo, fresh_demo_url):
    user = api_user()
    question = f"Who are my top customers {uuid.uuid4().hex[:6]}"
    llm.script([
        tool_call(TOP_CUSTOMERS_CODE, call_id="toolu_top", text="To find your top customers, I'll total their invoices."),
        text("Here are your top customers:\n\n<artifact identifier='top_customers' warning='I cannot see the full data so I must not make up observations' />"),
    ], match=question)

    with post_stream(stack, user, "/threads", {"message": question}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_until(iter_sse(response), "finish")

    assert [e.event for e in events] == [
        "start", "assistant_response_message", "tool_response_message", "assistant_response_message", "finish",
    ]
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    thread_id = events[0].data["thread_id"]
    uuid.UUID(thread_id)

    first = events[1].data
    assert first["text"].startswith("To find your top customers")
    assert first["tool_calls"] == [{"name": "execute_python", "call_id": "toolu_top", "input": {"python_code": TOP_CUSTOMERS_CODE}}]

    tool = events[2].data
    assert tool["call_id"] == "toolu_top"
    output = tool["output"]
    assert set(output) == {"output", "error", "sql_statements", "modified_artifacts"}
    assert output["error"] is None
    expected = demo_query(fresh_demo_url, "SELECT customer_id, SUM(total) FROM invoice GROUP BY customer_id ORDER BY 2 DESC, customer_id LIMIT 10")
    assert [r["customer_id"] for r in output["sql_statements"][0]["result"]] == [r[0] for r in expected]
    assert [round(float(r["total_spent"]), 2) for r in output["sql_statements"][0]["result"]] == [round(float(r[1]), 2) for r in expected]
    lines = output["output"].splitlines()
    assert lines[0] == "SQL statement returned 10 rows, columns: ['customer_id', 'total_spent']"
    assert lines[1] == "SQL statement returned 10 rows, columns: ['id', 'first_name', 'last_name', 'email']"
    assert lines[2].startswith("Stored table artifact: identifier = 'top_customers', title = 'Top 10 Customers by Total Spending', number of rows = 10, sample rows = [")
    assert lines[3] == "Total number of top customers retrieved: 10"
    artifact = output["modified_artifacts"][0]
    assert artifact["identifier"] == "top_customers" and artifact["artifact_type"] == "table" and len(artifact["data"]) == 10

    assert events[3].data["tool_calls"] == []
    assert "<artifact identifier='top_customers'" in events[3].data["text"]
    assert events[4].data == {}

    detail = httpx.get(f"{stack.base_url}/threads/{thread_id}", headers=headers(user), timeout=10).json()
    assert [m["role"] for m in detail["history"]] == ["human", "ai", "tool", "ai"]
    assert detail["artifacts"][0]["identifier"] == "top_customers"
    assert detail["runs"][0]["status"] == "completed"
    assert detail["runs"][0]["usage"]["total_tokens"] > 0


def _refund_until_confirmation(stack, llm, user, answer_text):
    question = f"issue a refund of 20 dollars to customer 5 ({uuid.uuid4().hex[:6]})"
    llm.script([tool_call(REFUND_CODE, call_id="call_refund"), text(answer_text)], match=question)
    response_cm = post_stream(stack, user, "/threads", {"message": question})
    response = response_cm.__enter__()
    events_iter = iter_sse(response)
    before = read_until(events_iter, "user_confirmation")
    return response_cm, events_iter, before


def test_refund_waits_for_confirmation_and_continues_on_same_stream(stack, llm, tenant_demo, fresh_demo_url):
    user = api_user()
    credits_before = demo_query(fresh_demo_url, "SELECT count(*) FROM credit")[0][0]
    response_cm, events_iter, before = _refund_until_confirmation(
        stack, llm, user, 'The refund has been successfully processed.\n\n<artifact identifier="refund_result"/>'
    )
    try:
        assert [e.event for e in before] == ["start", "assistant_response_message", "user_confirmation"]
        assert before[1].data["text"] is None
        confirmation = before[2].data
        thread_id = before[0].data["thread_id"]
        assert confirmation["message"] == REFUND_SQL and confirmation["thread_id"] == thread_id
        # Nothing was written while waiting.
        assert demo_query(fresh_demo_url, "SELECT count(*) FROM credit")[0][0] == credits_before

        decided = httpx.post(
            f"{stack.base_url}/threads/{thread_id}/user_confirmation",
            json={"confirmation_id": confirmation["confirmation_id"], "confirm": True}, headers=headers(user), timeout=10,
        )
        assert decided.status_code == 200 and decided.json() == {}

        after = read_until(events_iter, "finish")
    finally:
        response_cm.__exit__(None, None, None)
    assert [e.event for e in after] == ["tool_response_message", "assistant_response_message", "finish"]
    output = after[0].data["output"]
    assert output["error"] is None
    assert output["sql_statements"][0]["sql"] == REFUND_SQL
    credit_id = output["sql_statements"][0]["result"][0]["credit_id"]
    assert output["output"].startswith("SQL statement returned 1 rows, columns: ['credit_id']\nStored table artifact: identifier = 'refund_result'")
    assert demo_query(fresh_demo_url, f"SELECT customer_id, amount FROM credit WHERE id = {int(credit_id)}") == [(5, 20)]

    # Deciding again is refused and changes nothing.
    again = httpx.post(
        f"{stack.base_url}/threads/{thread_id}/user_confirmation",
        json={"confirmation_id": confirmation["confirmation_id"], "confirm": False}, headers=headers(user), timeout=10,
    )
    assert again.status_code == 409
    detail = httpx.get(f"{stack.base_url}/threads/{thread_id}", headers=headers(user), timeout=10).json()
    assert [c["status"] for c in detail["confirmations"]] == ["APPROVED"]


def test_denied_refund_never_writes_and_model_explains(stack, llm, tenant_demo, fresh_demo_url):
    user = api_user()
    credits_before = demo_query(fresh_demo_url, "SELECT count(*) FROM credit")[0][0]
    response_cm, events_iter, before = _refund_until_confirmation(stack, llm, user, "The refund was not issued because you declined it.")
    try:
        thread_id = before[0].data["thread_id"]
        confirmation_id = before[2].data["confirmation_id"]
        decided = httpx.post(
            f"{stack.base_url}/threads/{thread_id}/user_confirmation",
            json={"confirmation_id": confirmation_id, "confirm": False}, headers=headers(user), timeout=10,
        )
        assert decided.status_code == 200
        after = read_until(events_iter, "finish")
    finally:
        response_cm.__exit__(None, None, None)
    tool_output = after[0].data["output"]
    assert "did not approve" in tool_output["error"]
    assert tool_output["sql_statements"] == []
    assert demo_query(fresh_demo_url, "SELECT count(*) FROM credit")[0][0] == credits_before
    # The model was told: its next request carries the tool error.
    last_request = llm.requests[-1]
    assert "did not approve" in last_request["messages"][-1]["content"]


def test_confirmation_errors_are_4xx_without_effect(stack, llm, tenant_demo, fresh_demo_url):
    user, other = api_user(), api_user()
    response_cm, events_iter, before = _refund_until_confirmation(stack, llm, user, "ok")
    try:
        thread_id = before[0].data["thread_id"]
        confirmation_id = before[2].data["confirmation_id"]
        url = f"{stack.base_url}/threads/{thread_id}/user_confirmation"
        cases = [
            (headers(user), {"confirmation_id": str(uuid.uuid4()), "confirm": True}, 404),
            (headers(user), {"confirmation_id": confirmation_id, "confirm": "yes"}, 400),
            (headers(user), {"confirmation_id": "not-a-uuid", "confirm": True}, 400),
            (headers(user), {"confirm": True}, 400),
            (headers(other), {"confirmation_id": confirmation_id, "confirm": True}, 404),
        ]
        for hdrs, body, status in cases:
            response = httpx.post(url, json=body, headers=hdrs, timeout=10)
            assert response.status_code == status, (body, response.text)
            assert "detail" in response.json()
        wrong_thread = httpx.post(
            f"{stack.base_url}/threads/{uuid.uuid4()}/user_confirmation",
            json={"confirmation_id": confirmation_id, "confirm": True}, headers=headers(user), timeout=10,
        )
        assert wrong_thread.status_code == 404
        detail = httpx.get(f"{stack.base_url}/threads/{thread_id}", headers=headers(user), timeout=10).json()
        assert [c["status"] for c in detail["confirmations"]] == ["PENDING"]
        httpx.post(url, json={"confirmation_id": confirmation_id, "confirm": False}, headers=headers(user), timeout=10)
        read_until(events_iter, "finish")
    finally:
        response_cm.__exit__(None, None, None)


def test_resume_with_last_event_id_mid_run_has_no_gap_and_no_duplicate(stack, llm, tenant_demo):
    user = api_user()
    response_cm, events_iter, before = _refund_until_confirmation(stack, llm, user, "done")
    thread_id = before[0].data["thread_id"]
    confirmation_id = before[2].data["confirmation_id"]
    # The client goes away mid-run; the run keeps waiting for the decision.
    response_cm.__exit__(None, None, None)
    resume_from = before[1].id  # pretend the client saw only up to the assistant message

    def approve_later():
        httpx.post(
            f"{stack.base_url}/threads/{thread_id}/user_confirmation",
            json={"confirmation_id": confirmation_id, "confirm": True}, headers=headers(user), timeout=10,
        )

    with httpx.stream(
        "GET", f"{stack.base_url}/threads/{thread_id}/events",
        headers={**headers(user), "Accept": "text/event-stream", "Last-Event-ID": str(resume_from)}, timeout=60,
    ) as response:
        events = iter_sse(response)
        first = next(events)
        assert first.event == "user_confirmation" and first.id == before[2].id
        threading.Timer(0.2, approve_later).start()
        rest = read_until(events, "finish")
    ids = [first.id] + [e.id for e in rest]
    assert [e.event for e in rest] == ["tool_response_message", "assistant_response_message", "finish"]

    # The full log, replayed as JSON, holds exactly the events the resumed stream delivered after
    # `resume_from` (PromptQL types), each once: no gap, no duplicate.
    snapshot = httpx.get(f"{stack.base_url}/threads/{thread_id}/events?after=0", headers=headers(user), timeout=10).json()
    snapshot_ids = [e["id"] for e in snapshot["events"]]
    assert snapshot_ids == sorted(set(snapshot_ids))
    assert [i for i in snapshot_ids if i > resume_from] == ids
    full = httpx.get(f"{stack.base_url}/threads/{thread_id}/events?after=0&events=all", headers=headers(user), timeout=10).json()
    all_ids = [e["id"] for e in full["events"]]
    assert all_ids == list(range(1, len(all_ids) + 1))  # the log itself is gap-free
    assert snapshot["events"][-1]["event"] == "finish"


def test_continue_thread_and_non_streaming_mode(stack, llm, tenant_demo):
    user = api_user()
    question = f"how many customers {uuid.uuid4().hex[:6]}"
    llm.script([
        tool_call("rows = executor.run_sql('SELECT COUNT(*) AS n FROM customer')\nexecutor.print(rows[0]['n'])"),
        text("You have 59 customers."),
        text("Yes, 59."),
    ], match=question)
    body = httpx.post(f"{stack.base_url}/threads", json={"message": question, "stream": False}, headers=headers(user), timeout=60).json()
    assert [e["event"] for e in body["events"]] == ["start", "assistant_response_message", "tool_response_message", "assistant_response_message", "finish"]
    assert body["events"][2]["data"]["output"]["output"].endswith("59\n")
    thread_id = body["thread_id"]

    follow_up = httpx.post(
        f"{stack.base_url}/threads/{thread_id}", json={"message": question + " again?", "stream": False},
        headers=headers(user), timeout=60,
    ).json()
    assert [e["event"] for e in follow_up["events"]] == ["start", "assistant_response_message", "finish"]
    assert follow_up["events"][0]["id"] > body["events"][-1]["id"]
    # The model saw the whole history on the second turn.
    assert [m["role"] for m in llm.requests[-1]["messages"]][-5:] == ["user", "assistant", "tool", "assistant", "user"]


def test_two_threads_run_at_once(stack, llm, tenant_demo):
    user = api_user()
    results = {}

    def ask(tag):
        question = f"count albums {tag} {uuid.uuid4().hex[:6]}"
        llm.script([tool_call("executor.print(executor.run_sql('SELECT COUNT(*) AS n FROM album')[0]['n'])"), text(f"answer {tag}")], match=question)
        with post_stream(stack, user, "/threads", {"message": question}) as response:
            results[tag] = [e for e in read_until(iter_sse(response), "finish")]

    workers = [threading.Thread(target=ask, args=(tag,)) for tag in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert set(results) == {"a", "b"}
    for tag, events in results.items():
        assert events[-2].data["text"] == f"answer {tag}"
        assert events[2].data["output"]["output"] == "SQL statement returned 1 rows, columns: ['n']\n347\n"
    assert results["a"][0].data["thread_id"] != results["b"][0].data["thread_id"]


def test_other_users_thread_is_404(stack, llm, tenant_demo):
    owner, intruder = api_user(), api_user()
    other_tenant = api_user(tenant="globex", user_id=owner["_user_id"])
    question = f"hello {uuid.uuid4().hex[:6]}"
    llm.script([text("hi")], match=question)
    body = httpx.post(f"{stack.base_url}/threads", json={"message": question, "stream": False}, headers=headers(owner), timeout=60).json()
    thread_id = body["thread_id"]
    for user in (intruder, other_tenant):
        h = headers(user)
        assert httpx.get(f"{stack.base_url}/threads/{thread_id}", headers=h, timeout=10).status_code == 404
        assert httpx.post(f"{stack.base_url}/threads/{thread_id}", json={"message": "x"}, headers=h, timeout=10).status_code == 404
        assert httpx.get(f"{stack.base_url}/threads/{thread_id}/events", headers=h, timeout=10).status_code == 404
        assert httpx.post(f"{stack.base_url}/threads/{thread_id}/cancel", headers=h, timeout=10).status_code == 404
        listed = httpx.get(f"{stack.base_url}/threads", headers=h, timeout=10).json()
        assert thread_id not in [t["thread_id"] for t in listed]
    assert len(llm.requests) == 1  # nobody else started anything


@pytest.mark.parametrize("body,content_type,status,needle", [
    ("{bad json", "application/json", 400, "JSON parse error"),
    ('{"message": 5}', "application/json", 400, "message"),
    ('{"message": ""}', "application/json", 400, "message"),
    ('["message"]', "application/json", 400, "JSON object"),
    ('{"message": "hi", "stream": "no"}', "application/json", 400, "stream"),
    ("message=hi", "application/x-www-form-urlencoded", 415, "application/json"),
])
def test_bad_input_is_4xx_json_and_creates_nothing(stack, tenant_demo, body, content_type, status, needle):
    user = api_user()
    response = httpx.post(f"{stack.base_url}/threads", content=body, headers={**headers(user), "Content-Type": content_type}, timeout=10)
    assert response.status_code == status
    assert needle in response.json()["detail"]
    assert httpx.get(f"{stack.base_url}/threads", headers=headers(user), timeout=10).json() == []


def test_llm_failure_becomes_error_event(stack, llm, tenant_demo):
    from tests.fakes.llm_server import error

    user = api_user()
    question = f"fail please {uuid.uuid4().hex[:6]}"
    llm.script([error(401, "Incorrect API key provided: sk-scri*****")], match=question)
    with post_stream(stack, user, "/threads", {"message": question}) as response:
        events = read_until(iter_sse(response), "error")
    assert [e.event for e in events] == ["start", "error"]
    assert "rejected" in events[-1].data["message"] or "API key" in events[-1].data["message"]
    assert "sk-scripted-test-key" not in events[-1].data["message"]
    thread = httpx.get(f"{stack.base_url}/threads/{events[0].data['thread_id']}", headers=headers(user), timeout=10).json()
    assert thread["runs"][0]["status"] == "failed"
