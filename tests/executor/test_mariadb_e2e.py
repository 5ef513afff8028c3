"""A MariaDB data source end to end: real daphne + Celery worker, the scripted LLM, the session's own
MariaDB with the Chinook demo. PromptQL threads read, ask before a write (approved once, or denied,
never run unconfirmed); Dataherald answers seed-001 questions from MariaDB and never runs a write."""

import uuid

import httpx
import pytest

from assistants.models import Assistant
from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sources import query, tenant_source
from tests.support.sse import iter_sse, read_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

READ_CODE = '''rows = await executor.run_sql("""
SELECT g.name AS genre, COUNT(*) AS tracks, DATE_FORMAT(NOW(), '%Y') IS NOT NULL AS ok
FROM track t JOIN genre g ON g.id = t.genre_id
GROUP BY g.name ORDER BY tracks DESC, g.name LIMIT 5
""")
executor.store_artifact('genres', 'Tracks per genre', 'table', rows)
executor.print(f"Top genre: {rows[0]['genre']}")'''
CREDIT_SQL = "SELECT issue_credit(5, 20.00) AS credit_id"
CREDIT_CODE = f"rows = await executor.run_sql({CREDIT_SQL!r})\nexecutor.store_artifact('credit', 'Credit', 'table', rows)"
DISGUISED_CODE = '''for sql in ["SELECT 1 /*!50000 , issue_credit(5, 1) */", "SELECT load_file('/etc/passwd')",
            "SELECT * FROM genre INTO OUTFILE '/tmp/querent-e2e-outfile'", "SET GLOBAL max_connections = 1"]:
    try:
        await executor.run_sql(sql)
    except Exception as exc:
        executor.print(type(exc).__name__)'''


@pytest.fixture
def maria(transactional_db, fresh_mariadb_demo_url):
    source = tenant_source(fresh_mariadb_demo_url, tenant="acme", name="Chinook on MariaDB")
    assistant = Assistant(name="MariaDB analyst", public=True, data_source=source)
    assistant.tenant, assistant.owner = "acme", "system"
    assistant.save()
    return assistant, fresh_mariadb_demo_url


def ask(stack, user, assistant, message):
    return httpx.stream("POST", f"{stack.base_url}/threads", headers=headers(user), timeout=60,
                        json={"message": message, "assistant_id": str(assistant.pk)})


def test_a_read_through_a_promptql_thread(stack, llm, maria):
    assistant, url = maria
    user = api_user()
    question = f"tracks per genre {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(READ_CODE, call_id="c1"), text("<artifact identifier='genres' />")], match=question)
    with ask(stack, user, assistant, question) as response:
        events = read_until(iter_sse(response), "finish")
    assert [e.event for e in events] == ["start", "assistant_response_message", "tool_response_message",
                                         "assistant_response_message", "finish"]
    output = events[2].data["output"]
    assert output["error"] is None, output
    expected = query(url, "SELECT g.name, COUNT(*) FROM track t JOIN genre g ON g.id = t.genre_id GROUP BY g.name "
                          "ORDER BY 2 DESC, 1 LIMIT 5")
    assert [(r["genre"], r["tracks"]) for r in output["sql_statements"][0]["result"]] == [tuple(e) for e in expected]
    assert "MySQL" in llm.requests[0]["messages"][0]["content"] or "mysql" in llm.requests[0]["messages"][0]["content"]


def _until_confirmation(stack, llm, user, assistant, answer):
    question = f"credit customer 5 ({uuid.uuid4().hex[:6]})"
    llm.script([tool_call(CREDIT_CODE, call_id="c2"), text(answer)], match=question)
    manager = ask(stack, user, assistant, question)
    response = manager.__enter__()
    events = iter_sse(response)
    return manager, events, read_until(events, "user_confirmation")


def test_a_write_waits_for_approval_and_runs_once(stack, llm, maria):
    assistant, url = maria
    user = api_user()
    manager, events, before = _until_confirmation(stack, llm, user, assistant, "Done.")
    try:
        confirmation = before[-1].data
        assert confirmation["message"] == CREDIT_SQL
        assert query(url, "SELECT count(*) FROM credit")[0][0] == 0  # nothing while waiting
        decided = httpx.post(f"{stack.base_url}/threads/{before[0].data['thread_id']}/user_confirmation", headers=headers(user),
                             json={"confirmation_id": confirmation["confirmation_id"], "confirm": True}, timeout=10)
        assert decided.status_code == 200
        after = read_until(events, "finish")
    finally:
        manager.__exit__(None, None, None)
    assert after[0].data["output"]["error"] is None
    assert query(url, "SELECT customer_id, amount FROM credit") == [(5, 20)]
    again = httpx.post(f"{stack.base_url}/threads/{before[0].data['thread_id']}/user_confirmation", headers=headers(user),
                       json={"confirmation_id": confirmation["confirmation_id"], "confirm": True}, timeout=10)
    assert again.status_code == 409
    assert query(url, "SELECT count(*) FROM credit")[0][0] == 1


def test_a_denied_write_never_runs(stack, llm, maria):
    assistant, url = maria
    user = api_user()
    manager, events, before = _until_confirmation(stack, llm, user, assistant, "Not done.")
    try:
        decided = httpx.post(f"{stack.base_url}/threads/{before[0].data['thread_id']}/user_confirmation", headers=headers(user),
                             json={"confirmation_id": before[-1].data["confirmation_id"], "confirm": False}, timeout=10)
        assert decided.status_code == 200
        after = read_until(events, "finish")
    finally:
        manager.__exit__(None, None, None)
    assert "did not approve" in after[0].data["output"]["error"]
    assert query(url, "SELECT count(*) FROM credit")[0][0] == 0


def test_disguised_writes_each_ask_first_and_never_run(stack, llm, maria):
    """Every disguised write stops the run for a confirmation; each declined, none ran."""
    assistant, url = maria
    user = api_user()
    question = f"sneaky {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(DISGUISED_CODE, call_id="c3"), text("ok")], match=question)
    asked = []
    with ask(stack, user, assistant, question) as response:
        for event in iter_sse(response):
            if event.event == "user_confirmation":
                asked.append(event.data["message"])
                decided = httpx.post(f"{stack.base_url}/threads/{event.data['thread_id']}/user_confirmation",
                                     headers=headers(user), timeout=10,
                                     json={"confirmation_id": event.data["confirmation_id"], "confirm": False})
                assert decided.status_code == 200
            if event.event == "finish":
                break
    assert asked == ["SELECT 1 /*!50000 , issue_credit(5, 1) */", "SELECT load_file('/etc/passwd')",
                     "SELECT * FROM genre INTO OUTFILE '/tmp/querent-e2e-outfile'", "SET GLOBAL max_connections = 1"]
    assert query(url, "SELECT count(*) FROM credit")[0][0] == 0
    assert query(url, "SELECT @@global.max_connections")[0][0] != 1


# --- Dataherald ----------------------------------------------------------------------------------


def call(stack, user, method, path, **kwargs):
    return httpx.request(method, f"{stack.base_url}/api/v1{path}", headers=headers(user), timeout=120, **kwargs)


def test_dataherald_answers_from_mariadb_and_never_runs_a_write(stack, llm, transactional_db, mariadb, fresh_mariadb_demo_url):
    alice = api_user(user_id=f"alice-{uuid.uuid4().hex[:6]}", admin=True)
    created = call(stack, alice, "POST", "/database-connections",
                   json={"alias": "chinook-maria", "use_ssh": False, "connection_uri": fresh_mariadb_demo_url})
    assert created.status_code == 201, created.text
    assert "s3cret" not in created.text
    connection = created.json()["id"]

    llm.script([text("```sql\nSELECT COUNT(*) AS artists FROM `artist`\n```"), text("There are 275 artists.")])
    answered = call(stack, alice, "POST", "/questions", json={"db_connection_id": connection, "question": "How many artists are there?"})
    assert answered.status_code == 201, answered.text
    body = answered.json()
    assert body["sql_generation_status"] == "VALID", body
    assert body["sql_query_result"]["rows"] == [{"artists": query(fresh_mariadb_demo_url, "SELECT count(*) FROM artist")[0][0]}]
    assert "MySQL" in llm.requests[0]["messages"][0]["content"]

    llm.script([text("```sql\nDELETE FROM invoice_line\n```"), text("```sql\nDELETE FROM invoice_line\n```"),
                text("```sql\nDELETE FROM invoice_line\n```"), text("no")])
    refused = call(stack, alice, "POST", "/questions", json={"db_connection_id": connection, "question": "Remove every invoice line"})
    assert refused.status_code in (201, 400), refused.text
    assert query(fresh_mariadb_demo_url, "SELECT count(*) FROM invoice_line")[0][0] == 2240
