"""The Dataherald dialect end to end: real daphne + Celery worker on PostgreSQL and Redis, the
scripted OpenAI-compatible LLM, the Chinook demo database, clients speaking plain HTTP."""

import csv
import hashlib
import io
import uuid

import httpx
import psycopg
import pytest

from responses.models import Question
from tests.fakes.llm_server import text
from tests.support.principals import api_user, headers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TIMEOUT = 120


def call(stack, user, method, path, **kwargs):
    return httpx.request(method, f"{stack.base_url}/api/v1{path}", headers=headers(user), timeout=TIMEOUT, **kwargs)


def sql_reply(sql: str, **options):
    return text(f"```sql\n{sql}\n```", **options)


def demo_rows(url: str, sql: str):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def last_user_message(request: dict) -> str:
    return [m for m in request["messages"] if m["role"] == "user"][-1]["content"]


@pytest.fixture
def alice(transactional_db):
    """A tenant admin: she creates database connections."""
    return api_user(user_id=f"alice-{uuid.uuid4().hex[:6]}", admin=True)


@pytest.fixture
def bob(transactional_db):
    return api_user(user_id=f"bob-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def connection(stack, alice, demo_pg_url):
    """Alice's own connection to the demo, made through the API as a Dataherald client would."""
    created = call(stack, alice, "POST", "/database-connections",
                   json={"alias": "chinook", "use_ssh": False, "connection_uri": demo_pg_url})
    assert created.status_code == 201, created.text
    assert created.json()["connection_uri"] is None and demo_pg_url not in created.text
    return created.json()["id"]


@pytest.fixture
def question(alice, connection):
    return Question.objects.create(
        question="Which artists are there?", db_connection_id=connection, tenant=alice["_tenant"], owner=alice["_user_id"]
    )


def test_generated_query_answers_the_question(stack, llm, alice, connection, demo_pg_url):
    llm.script([sql_reply("SELECT count(*) AS artists FROM artist;"), text("There are 275 artists in the store.")])
    created = call(stack, alice, "POST", "/questions", json={"db_connection_id": connection, "question": "How many artists are there?"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {
        "id", "question_id", "response", "intermediate_steps", "sql_query", "sql_query_result", "csv_file_path",
        "sql_generation_status", "error_message", "exec_time", "total_tokens", "total_cost", "confidence_score", "created_at",
        "pending_confirmation",  # a Querent extension: null unless a change waits for approval
    }
    assert body["sql_generation_status"] == "VALID" and body["error_message"] is None
    assert body["sql_query"] == "SELECT count(*) AS artists FROM artist"
    assert body["sql_query_result"] == {"columns": ["artists"], "rows": [{"artists": demo_rows(demo_pg_url, "SELECT count(*) FROM artist")[0][0]}]}
    assert body["response"] == "There are 275 artists in the store."
    assert body["csv_file_path"] is None and body["confidence_score"] is None  # run_evaluator defaults to false here
    assert body["exec_time"] > 0 and body["total_tokens"] > 0 and body["total_cost"] > 0
    assert any(step.startswith("schema:") for step in body["intermediate_steps"])

    sql_prompt = llm.requests[0]["messages"][0]["content"]
    assert "PostgreSQL" in sql_prompt and "artist" in sql_prompt and "invoice_line" in sql_prompt
    assert "275" in last_user_message(llm.requests[1])  # the answer is written from the result

    question_id = body["question_id"]
    assert call(stack, alice, "GET", f"/questions/{question_id}").json() == {
        "id": question_id, "question": "How many artists are there?", "db_connection_id": connection,
        "created_at": call(stack, alice, "GET", "/questions").json()[0]["created_at"],
    }
    assert call(stack, alice, "GET", f"/responses?question_id={question_id}").json() == [body]
    assert call(stack, alice, "GET", f"/responses/{body['id']}").json() == body


def test_given_query_runs_instead_of_generation(stack, llm, alice, question):
    llm.script([text("The first artist is AC/DC.")])
    created = call(stack, alice, "POST", "/responses", params={"run_evaluator": "false"},
                   json={"question_id": str(question.id), "sql_query": "SELECT id, name FROM artist WHERE id = 1"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["sql_generation_status"] == "VALID" and body["question_id"] == str(question.id)
    assert body["sql_query_result"] == {"columns": ["id", "name"], "rows": [{"id": 1, "name": "AC/DC"}]}
    assert body["response"] == "The first artist is AC/DC."
    assert len(llm.requests) == 1 and "AC/DC" in last_user_message(llm.requests[0])


def test_failed_generated_query_goes_back_to_the_model_with_the_error(stack, llm, alice, question):
    llm.script([
        sql_reply("SELECT artist_name FROM artist"),
        sql_reply("SELECT name FROM artist ORDER BY id LIMIT 3"),
        text("AC/DC, Accept and Aerosmith."),
    ])
    body = call(stack, alice, "POST", "/responses", params={"run_evaluator": "false"}, json={"question_id": str(question.id)}).json()
    assert body["sql_generation_status"] == "VALID" and body["error_message"] is None
    assert body["sql_query"] == "SELECT name FROM artist ORDER BY id LIMIT 3"
    assert [r["name"] for r in body["sql_query_result"]["rows"]] == ["AC/DC", "Accept", "Aerosmith"]
    assert 'column "artist_name" does not exist' in last_user_message(llm.requests[1])
    assert any("sql attempt 1 failed" in step and "artist_name" in step for step in body["intermediate_steps"])


def test_invalid_sql_is_reported_after_bounded_retries(stack, llm, alice, question):
    llm.script([sql_reply(f"SELECT wrong_{n} FROM artist") for n in range(3)])
    body = call(stack, alice, "POST", "/responses", params={"run_evaluator": "true"}, json={"question_id": str(question.id)}).json()
    assert body["sql_generation_status"] == "INVALID"
    assert body["sql_query"] == "SELECT wrong_2 FROM artist"
    assert 'column "wrong_2" does not exist' in body["error_message"]
    assert body["sql_query_result"] is None and body["response"] is None
    assert body["confidence_score"] == 0.0
    assert len(llm.requests) == 3  # 1 + QUERENT_RESPONSES_SQL_RETRIES (2); no answer, no evaluation


def test_invalid_given_sql_is_not_retried(stack, llm, alice, question):
    body = call(stack, alice, "POST", "/responses", params={"run_evaluator": "false"},
                json={"question_id": str(question.id), "sql_query": "SELECT nme FROM artist"}).json()
    assert body["sql_generation_status"] == "INVALID" and 'column "nme" does not exist' in body["error_message"]
    unparsable = call(stack, alice, "POST", "/responses", params={"run_evaluator": "false"},
                      json={"question_id": str(question.id), "sql_query": "SELEC name FROM artist"}).json()
    # The guard cannot tell what it does, so (as in the chat) it waits for approval instead of running.
    assert unparsable["sql_generation_status"] == "NONE" and unparsable["pending_confirmation"]["sql"] == "SELEC name FROM artist"
    assert any("could not parse the statement" in step for step in unparsable["intermediate_steps"])
    assert llm.requests == []


@pytest.mark.parametrize(
    "write_sql",
    [
        "DELETE FROM invoice_line WHERE invoice_id < 100",
        # Not a declared action on this connection: the guard lets it by, the read-only transaction refuses it.
        "SELECT issue_credit(5, 20.00) AS credit_id",
    ],
)
def test_generated_write_waits_for_approval_and_denied_is_never_run(stack, llm, alice, question, demo_pg_url, write_sql):
    counts = "SELECT (SELECT count(*) FROM invoice_line), (SELECT count(*) FROM credit)"
    before = demo_rows(demo_pg_url, counts)
    llm.script([sql_reply(write_sql)])
    body = call(stack, alice, "POST", "/responses", params={"run_evaluator": "false"}, json={"question_id": str(question.id)}).json()
    assert body["sql_generation_status"] == "NONE" and body["sql_query"] == write_sql
    change = body["pending_confirmation"]
    assert change["sql"] == write_sql and "needs your approval" in body["error_message"]
    assert any("changes data" in step or "read-only mode" in step for step in body["intermediate_steps"])
    assert body["sql_query_result"] is None and body["response"] is None
    assert len(llm.requests) == 1  # a write is not sent back for "correction"
    assert demo_rows(demo_pg_url, counts) == before
    denied = call(stack, alice, "POST", f"/responses/{body['id']}/confirmations/{change['confirmation_id']}", json={"approve": False})
    assert denied.status_code == 200 and denied.json()["sql_generation_status"] == "INVALID"
    assert demo_rows(demo_pg_url, counts) == before


def test_sql_response_only_skips_the_answer(stack, llm, alice, question):
    body = call(stack, alice, "POST", "/responses", params={"sql_response_only": "true", "run_evaluator": "false"},
                json={"question_id": str(question.id), "sql_query": "SELECT name FROM genre ORDER BY id LIMIT 2"}).json()
    assert body["sql_generation_status"] == "VALID"
    assert body["sql_query_result"] == {"columns": ["name"], "rows": [{"name": "Rock"}, {"name": "Jazz"}]}
    assert body["response"] is None and body["error_message"] is None
    assert body["total_tokens"] == 0 and body["total_cost"] == 0 and llm.requests == []


def test_run_evaluator_fills_confidence_and_tokens_and_cost_are_summed(stack, llm, alice, connection):
    usage = [
        {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050},
        {"prompt_tokens": 800, "completion_tokens": 40, "total_tokens": 840},
        {"prompt_tokens": 900, "completion_tokens": 10, "total_tokens": 910},
    ]
    llm.script([
        sql_reply("SELECT count(*) AS tracks FROM track", usage=usage[0]),
        text("The store has 3503 tracks.", usage=usage[1]),
        text('{"confidence": 0.87, "reason": "counts every track"}', usage=usage[2]),
    ])
    body = call(stack, alice, "POST", "/questions", params={"run_evaluator": "true"},
                json={"db_connection_id": connection, "question": "How many tracks?"}).json()
    assert body["sql_generation_status"] == "VALID"
    assert body["confidence_score"] == 0.87
    assert "SELECT count(*) AS tracks FROM track" in last_user_message(llm.requests[2])
    assert body["total_tokens"] == 2800
    # gpt-4o-mini: $0.15 per million prompt tokens, $0.60 per million completion tokens
    assert body["total_cost"] == pytest.approx((2700 * 0.15 + 100 * 0.60) / 1_000_000, abs=1e-9)
    assert sum(1 for step in body["intermediate_steps"] if "tokens" in step) == 3


def test_csv_boundary_fifty_inline_fifty_one_to_a_file(stack, llm, alice, question, demo_pg_url):
    inline = call(stack, alice, "POST", "/responses", params={"generate_csv": "true", "sql_response_only": "true", "run_evaluator": "false"},
                  json={"question_id": str(question.id), "sql_query": "SELECT id, name FROM artist ORDER BY id LIMIT 50"}).json()
    assert len(inline["sql_query_result"]["rows"]) == 50 and inline["csv_file_path"] is None

    llm.script([text("Here are the first 51 artists.")])
    body = call(stack, alice, "POST", "/responses", params={"generate_csv": "true", "run_evaluator": "false"},
                json={"question_id": str(question.id), "sql_query": "SELECT id, name FROM artist ORDER BY id LIMIT 51"}).json()
    assert body["sql_generation_status"] == "VALID"
    assert body["sql_query_result"] is None
    assert body["csv_file_path"] == f"exports/{body['id']}.csv"
    assert body["response"] == "Here are the first 51 artists."
    assert "51 rows, first 50 shown" in last_user_message(llm.requests[0])

    file = call(stack, alice, "GET", f"/responses/{body['id']}/file")
    assert file.status_code == 200 and file.headers["content-type"].startswith("text/csv")
    assert file.headers["content-disposition"] == f'attachment; filename="{body["id"]}.csv"'
    rows = list(csv.reader(io.StringIO(file.text)))
    expected = demo_rows(demo_pg_url, "SELECT id, name FROM artist ORDER BY id LIMIT 51")
    assert rows == [["id", "name"]] + [[str(i), name] for i, name in expected]


def test_csv_with_100000_rows_streams(stack, alice, question):
    sql = "SELECT g AS n, md5(g::text) AS digest FROM generate_series(1, 100000) g ORDER BY g"
    body = call(stack, alice, "POST", "/responses", params={"generate_csv": "true", "sql_response_only": "true", "run_evaluator": "false"},
                json={"question_id": str(question.id), "sql_query": sql}).json()
    assert body["sql_generation_status"] == "VALID" and body["sql_query_result"] is None
    assert any("100000 rows (more than 50) written to" in step for step in body["intermediate_steps"])

    lines, chunks, last = 0, 0, b""
    with httpx.stream("GET", f"{stack.base_url}/api/v1/responses/{body['id']}/file", headers=headers(alice), timeout=TIMEOUT) as file:
        assert file.status_code == 200
        size = int(file.headers["content-length"])
        received = 0
        for chunk in file.iter_raw():
            chunks += 1
            received += len(chunk)
            lines += chunk.count(b"\n")
            last = (last + chunk)[-200:]
    assert received == size and lines == 100_001
    assert chunks > 1  # arrived in pieces, not as one buffered body
    assert last.endswith(f"100000,{hashlib.md5(b'100000').hexdigest()}\n".encode())


def test_unknown_ids_are_404(stack, alice, connection, question):
    unknown = str(uuid.uuid4())
    for method, path, body in [
        ("GET", f"/questions/{unknown}", None),
        ("GET", "/questions/not-an-id", None),
        ("GET", f"/responses/{unknown}", None),
        ("GET", f"/responses/{unknown}/file", None),
        ("GET", f"/responses?question_id={unknown}", None),
        ("GET", f"/database-connections/{unknown}", None),
        ("PUT", f"/database-connections/{unknown}", {"alias": "x"}),
        ("GET", f"/questions?db_connection_id={unknown}", None),
        ("POST", "/responses", {"question_id": unknown}),
        ("POST", "/responses", {"question_id": "12345"}),
        ("POST", "/questions", {"db_connection_id": unknown, "question": "q"}),
        ("POST", "/sql-query-executions", {"db_connection_id": unknown, "sql_query": "SELECT 1"}),
    ]:
        response = call(stack, alice, method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/json" and response.json()["code"] == "not_found"


def test_another_owners_question_is_404(stack, llm, alice, bob, connection, question):
    made = call(stack, alice, "POST", "/responses", params={"sql_response_only": "true", "run_evaluator": "false", "generate_csv": "true"},
                json={"question_id": str(question.id), "sql_query": "SELECT id FROM track LIMIT 60"}).json()
    assert made["csv_file_path"]
    for method, path, body in [
        ("GET", f"/questions/{question.id}", None),
        ("POST", "/responses", {"question_id": str(question.id)}),
        ("POST", "/responses", {"question_id": str(question.id), "sql_query": "SELECT 1"}),
        ("GET", f"/responses?question_id={question.id}", None),
        ("GET", f"/responses/{made['id']}", None),
        ("GET", f"/responses/{made['id']}/file", None),
        ("GET", f"/database-connections/{connection}", None),
        ("PUT", f"/database-connections/{connection}", {"alias": "taken over"}),
        ("POST", "/questions", {"db_connection_id": connection, "question": "q"}),
    ]:
        response = call(stack, bob, method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
    assert call(stack, bob, "GET", "/questions").json() == []
    assert call(stack, bob, "GET", "/responses").json() == []
    assert connection not in [c["id"] for c in call(stack, bob, "GET", "/database-connections").json()]
    assert call(stack, alice, "GET", f"/database-connections/{connection}").json()["alias"] == "chinook"
    assert llm.requests == []


def test_connections_heartbeat_and_sql_executions(stack, alice, connection, demo_pg_url):
    renamed = call(stack, alice, "PUT", f"/database-connections/{connection}", json={"alias": "music", "metadata": {"k": "v"}})
    assert renamed.status_code == 200 and renamed.json()["alias"] == "music" and renamed.json()["metadata"] == {"k": "v"}
    listed = call(stack, alice, "GET", "/database-connections")
    assert [c["alias"] for c in listed.json() if c["id"] == connection] == ["music"]
    assert demo_pg_url not in listed.text
    executed = call(stack, alice, "POST", "/sql-query-executions", json={"db_connection_id": connection, "sql_query": "SELECT name FROM media_type ORDER BY id LIMIT 1"})
    assert executed.status_code == 201 and executed.json()[1] == {"result": [["MPEG audio file"]]}
    beat = httpx.get(f"{stack.base_url}/api/v1/heartbeat", timeout=10)
    assert beat.status_code == 200 and isinstance(beat.json()["nanosecond heartbeat"], int)
