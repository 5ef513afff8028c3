"""The Dataherald endpoints in-process (eager worker): validation, ownership, errors, and the
paths that need no live processes. tests/responses/test_dataherald_e2e.py covers the real stack."""

import json
import uuid

import pytest
from celery.result import AsyncResult

from responses import tasks
from responses.models import Question, Response
from responses.prompts import WRITES_ELSEWHERE
from tests.fakes.llm_server import error, text

from .conftest import client_for, make_source

pytestmark = pytest.mark.django_db

V1 = "/api/v1"


def post(client, path, body, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"{V1}{path}" + (f"?{query}" if query else ""), body, format="json")


# --- database connections ------------------------------------------------------------------


def test_connection_create_list_get_put_never_return_the_uri(api, alice, demo_pg_url):
    created = post(api, "/database-connections", {"alias": "chinook", "connection_uri": demo_pg_url, "use_ssh": False,
                                                  "metadata": {"team": "sales"}})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["alias"] == "chinook" and body["dialect"] == "postgres" and body["use_ssh"] is False
    assert body["connection_uri"] is None and body["metadata"] == {"team": "sales"}
    ident = body["id"]

    listed = api.get(f"{V1}/database-connections")
    assert [c["id"] for c in listed.json()] == [ident]
    assert api.get(f"{V1}/database-connections/{ident}/").json() == body

    renamed = api.put(f"{V1}/database-connections/{ident}", {"alias": "renamed"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["alias"] == "renamed"
    assert renamed.json()["metadata"] == {"team": "sales"}  # left out: kept

    for response in (created, listed, renamed):
        assert demo_pg_url not in response.content.decode()


def test_shared_connections_are_listed_and_usable_but_not_editable(api, bob, demo_pg_url):
    shared = make_source(bob, demo_pg_url, name="demo", shared=True)
    private = make_source(bob, demo_pg_url, name="bob's own")
    ids = [c["id"] for c in api.get(f"{V1}/database-connections").json()]
    assert str(shared.id) in ids and str(private.id) not in ids
    assert api.get(f"{V1}/database-connections/{shared.id}").status_code == 200
    assert api.put(f"{V1}/database-connections/{shared.id}", {"alias": "mine"}, format="json").status_code == 403
    assert api.get(f"{V1}/database-connections/{private.id}").status_code == 404
    assert api.put(f"{V1}/database-connections/{private.id}", {"alias": "mine"}, format="json").status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"connection_uri": "postgresql://x@127.0.0.1/db"}, "alias"),
        ({"alias": 5, "connection_uri": "postgresql://x@127.0.0.1/db"}, "alias"),
        ({"alias": "a"}, "connection_uri"),
        ({"alias": "a", "connection_uri": ["postgresql://"]}, "connection_uri"),
        ({"alias": "a", "connection_uri": "oracle://u:p@host/db"}, "connection_uri"),
        ({"alias": "a", "connection_uri": "mysql://u:p@127.0.0.1:3306/db?init_command=DROP+TABLE+x"}, "connection_uri"),
        ({"alias": "a", "connection_uri": "postgresql://postgres@127.0.0.1:1/none"}, "connection_uri"),
        ({"alias": "a", "connection_uri": "postgresql://x@127.0.0.1/db", "use_ssh": True}, "use_ssh"),
        ({"alias": "a", "connection_uri": "postgresql://x@127.0.0.1/db", "use_ssh": "no"}, "use_ssh"),
        ({"alias": "a", "connection_uri": "postgresql://x@127.0.0.1/db", "ssh_settings": {"host": "h"}}, "ssh_settings"),
        ({"alias": "a", "connection_uri": "postgresql://x@127.0.0.1/db", "file_storage": {"name": "S3"}}, "file_storage"),
        ({"alias": "a", "connection_uri": "postgresql://x@127.0.0.1/db", "metadata": [1]}, "metadata"),
    ],
)
def test_bad_connections_are_refused_naming_the_field(api, body, field):
    response = post(api, "/database-connections", body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert "password" not in response.content.decode()


def test_unreachable_database_message_hides_the_password(api):
    response = post(api, "/database-connections", {"alias": "a", "connection_uri": "postgresql://u:s3cr3t-pw@127.0.0.1:1/db"})
    assert response.status_code == 400
    assert "could not connect" in response.json()["detail"] and "s3cr3t-pw" not in response.content.decode()


def test_malformed_json_and_non_object_bodies(api):
    bad = api.post(f"{V1}/questions", b'{"question": ', content_type="application/json")
    assert bad.status_code == 400 and "JSON" in bad.json()["detail"]
    listed = api.post(f"{V1}/responses", [1, 2], format="json")
    assert listed.status_code == 400


def test_oversized_body_is_413(api, settings):
    response = api.post(f"{V1}/questions", {"question": "x" * (settings.MAX_BODY_BYTES + 10), "db_connection_id": "x"}, format="json")
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"


def test_heartbeat_needs_no_credentials(client):
    response = client.get(f"{V1}/heartbeat")
    assert response.status_code == 200 and response.json()["nanosecond heartbeat"] > 1_600_000_000 * 10**9


def test_endpoints_need_credentials(client):
    assert client.get(f"{V1}/questions").status_code == 401


# --- questions and responses ---------------------------------------------------------------


def test_question_validation_and_unknown_connection(api, pg_source, eager_worker, no_model):
    assert post(api, "/questions", {"db_connection_id": str(pg_source.id), "question": 7}).json()["errors"].keys() == {"question"}
    assert post(api, "/questions", {"db_connection_id": str(pg_source.id), "question": ""}).status_code == 400
    assert post(api, "/questions", {"question": "q"}).json()["errors"].keys() == {"db_connection_id"}
    bad_flag = post(api, "/questions", {"db_connection_id": str(pg_source.id), "question": "q"}, run_evaluator="maybe")
    assert bad_flag.status_code == 400 and "run_evaluator" in bad_flag.json()["errors"]
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        missing = post(api, "/questions", {"db_connection_id": unknown, "question": "q"})
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert Question.objects.count() == 0


def test_without_a_model_generation_says_so_honestly(api, pg_source, eager_worker, no_model):
    response = post(api, "/questions", {"db_connection_id": str(pg_source.id), "question": "Which playlists mention jazz?"})
    assert response.status_code == 201
    body = response.json()
    assert body["sql_generation_status"] == "NONE" and body["sql_query"] is None
    assert body["error_message"].startswith("No language model is configured")
    assert "[Demo model: offline, no LLM configured]" in body["error_message"]  # what the demo model does know
    assert body["total_tokens"] == 0 and body["response"] is None
    assert Question.objects.get().question == "Which playlists mention jazz?"


def test_without_a_model_the_demo_model_answers_what_it_knows(api, pg_source, eager_worker, no_model):
    body = post(api, "/questions", {"db_connection_id": str(pg_source.id), "question": "How many artists are there?"}).json()
    assert body["sql_generation_status"] == "VALID" and body["sql_query"] == "SELECT (SELECT COUNT(*) FROM artist) AS artists"
    assert body["sql_query_result"] == {"columns": ["artists"], "rows": [{"artists": 275}]}
    assert body["response"] == "[Demo model: offline, no LLM configured] The query returned one row: artists: 275."
    assert any("offline demo model" in step for step in body["intermediate_steps"]) and body["total_tokens"] == 0
    # A refund's query is held for approval and run by the engine: tests/responses/test_dataherald_writes_e2e.py.


def test_given_query_without_a_model_runs_and_scores_by_heuristic(api, alice, pg_source, eager_worker, no_model):
    question = Question.objects.create(question="How many artists?", db_connection=pg_source, tenant=alice.tenant, owner=alice.user_id)
    response = post(api, "/responses", {"question_id": str(question.id), "sql_query": "SELECT count(*) AS n FROM artist"})
    assert response.status_code == 201
    body = response.json()
    assert body["sql_generation_status"] == "VALID"
    assert body["sql_query_result"] == {"columns": ["n"], "rows": [{"n": 275}]}
    assert body["response"] == "[Demo model: offline, no LLM configured] The query returned one row: n: 275."
    assert body["confidence_score"] == 0.6  # run_evaluator defaults to true on /responses
    assert any("heuristic confidence 0.6" in step for step in body["intermediate_steps"])


@pytest.mark.django_db(transaction=True)  # the engine's run is handed to the worker on commit
def test_a_held_write_in_process_expires_unanswered(api, alice, pg_source, eager_worker, no_model, settings):
    """With the worker in process (eager) nobody can approve while the request waits: with no time
    to decide, the change expires, is not run, and the response says so instead of hanging."""
    settings.CONFIRMATION_TIMEOUT = 0
    question = Question.objects.create(question="Wipe", db_connection=pg_source, tenant=alice.tenant, owner=alice.user_id)
    response = post(api, "/responses", {"question_id": str(question.id), "sql_query": "DELETE FROM artist", "run_evaluator": False})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sql_generation_status"] == "INVALID" and body["pending_confirmation"] is None
    assert body["confirmation"]["status"] == "TIMED_OUT" and "Nothing was changed" in body["error_message"]
    assert post(api, "/sql-query-executions", {"db_connection_id": str(pg_source.id), "sql_query": "SELECT count(*) AS n FROM artist"}).json()[1]["result"] == [[275]]
    # The offline demo model's refund: its declared action's query is held the same way.
    refund = post(api, "/questions", {"db_connection_id": str(pg_source.id), "question": "Refund customer 7 $15"}).json()
    assert refund["sql_query"] == "SELECT issue_credit(7, 15.00) AS credit_id" and refund["confirmation"]["sql"] == refund["sql_query"]
    assert refund["confirmation"]["status"] == "TIMED_OUT" and refund["sql_query_result"] is None


def test_unparseable_evaluation_falls_back_to_the_heuristic(api, alice, pg_source, eager_worker, model):
    question = Question.objects.create(question="Artists?", db_connection=pg_source, tenant=alice.tenant, owner=alice.user_id)
    model.script([text("There are 275 artists."), text("Looks reasonable to me!")])
    body = post(api, "/responses", {"question_id": str(question.id), "sql_query": "SELECT count(*) FROM artist"}).json()
    assert body["response"] == "There are 275 artists."
    assert body["confidence_score"] == 0.6
    assert any("no score in the model's reply" in s for s in body["intermediate_steps"])
    assert any("heuristic" in s for s in body["intermediate_steps"])


def test_model_failure_is_recorded_not_raised(api, pg_source, eager_worker, model):
    model.script([error(401, "bad key sk-live-123456789")])
    body = post(api, "/questions", {"db_connection_id": str(pg_source.id), "question": "How many artists?"}).json()
    assert body["sql_generation_status"] == "NONE"
    assert body["error_message"].startswith("The language model failed: the API key was rejected")
    assert "sk-live" not in json.dumps(body)


def test_responses_of_other_owners_are_404(api, alice, bob, pg_source, eager_worker, no_model):
    question = Question.objects.create(question="q", db_connection=pg_source, tenant=alice.tenant, owner=alice.user_id)
    made = post(api, "/responses", {"question_id": str(question.id), "sql_query": "SELECT 1 AS one"}).json()
    other = client_for(bob)
    assert other.get(f"{V1}/questions/{question.id}").status_code == 404
    assert other.get(f"{V1}/responses/{made['id']}").status_code == 404
    assert other.get(f"{V1}/responses?question_id={question.id}").status_code == 404
    assert other.get(f"{V1}/responses").json() == []
    assert post(other, "/responses", {"question_id": str(question.id)}).status_code == 404
    assert api.get(f"{V1}/responses?question_id={question.id}").json()[0]["id"] == made["id"]
    assert api.get(f"{V1}/questions?db_connection_id={pg_source.id}").json()[0]["id"] == str(question.id)


def test_file_of_a_response_without_csv_is_404(api, alice, pg_source, eager_worker, no_model):
    question = Question.objects.create(question="q", db_connection=pg_source, tenant=alice.tenant, owner=alice.user_id)
    made = post(api, "/responses", {"question_id": str(question.id), "sql_query": "SELECT 1 AS one"}, generate_csv="true").json()
    assert made["sql_query_result"] == {"columns": ["one"], "rows": [{"one": 1}]} and made["csv_file_path"] is None
    response = api.get(f"{V1}/responses/{made['id']}/file")
    assert response.status_code == 404 and "no CSV file" in response.json()["detail"]


def test_a_worker_that_does_not_finish_in_time_gives_504_with_the_id(api, alice, pg_source, settings, monkeypatch):
    question = Question.objects.create(question="q", db_connection=pg_source, tenant=alice.tenant, owner=alice.user_id)
    settings.RESPONSES_TIMEOUT = 0.3
    monkeypatch.setattr(tasks.generate_response, "apply_async", lambda **kwargs: AsyncResult(kwargs["kwargs"]["response_id"]))
    response = post(api, "/responses", {"question_id": str(question.id), "sql_query": "SELECT 1"})
    assert response.status_code == 504
    assert "GET /api/v1/responses/" in response.json()["detail"]
    assert Response.objects.count() == 0


def test_sql_query_executions(api, pg_source):
    done = post(api, "/sql-query-executions", {"db_connection_id": str(pg_source.id), "sql_query": "SELECT id, name FROM artist ORDER BY id LIMIT 2"})
    assert done.status_code == 201
    assert done.json() == ["[(1, 'AC/DC'), (2, 'Accept')]", {"result": [[1, "AC/DC"], [2, "Accept"]]}]
    refused = post(api, "/sql-query-executions", {"db_connection_id": str(pg_source.id), "sql_statement": "DELETE FROM artist"})
    assert refused.status_code == 400 and refused.json()["errors"]["sql_query"] == [f"Refused, nothing was changed: DELETE changes data or the session. {WRITES_ELSEWHERE}"]
    broken = post(api, "/sql-query-executions", {"db_connection_id": str(pg_source.id), "sql_query": "SELECT nope FROM artist"})
    assert broken.status_code == 400 and "nope" in broken.json()["detail"]
    assert post(api, "/sql-query-executions", {"db_connection_id": str(pg_source.id)}).status_code == 400
    assert post(api, "/sql-query-executions", {"db_connection_id": str(uuid.uuid4()), "sql_query": "SELECT 1"}).status_code == 404


def test_storage_failure_is_recorded_with_the_valid_query(api, alice, pg_source, eager_worker, no_model, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.CSV_S3_BUCKET = "bucket-without-credentials"
    settings.CSV_S3_ACCESS_KEY_ID = None
    question = Question.objects.create(question="q", db_connection=pg_source, tenant=alice.tenant, owner=alice.user_id)
    body = post(api, "/responses", {"question_id": str(question.id), "sql_query": "SELECT id FROM track LIMIT 60"},
                generate_csv="true", run_evaluator="false").json()
    assert body["sql_generation_status"] == "VALID"
    assert body["csv_file_path"] is None and body["sql_query_result"] is None
    assert body["error_message"].startswith("The query ran, but its CSV file could not be stored")


def test_admin_lists_and_shows_questions_and_responses(admin_client, alice, pg_source, api, eager_worker, no_model):
    question = Question.objects.create(question="admin?", db_connection=pg_source, tenant=alice.tenant, owner=alice.user_id)
    made = post(api, "/responses", {"question_id": str(question.id), "sql_query": "SELECT 1 AS one"}).json()
    for path in ("/admin/responses/question/", f"/admin/responses/question/{question.id}/change/",
                 "/admin/responses/response/", f"/admin/responses/response/{made['id']}/change/"):
        page = admin_client.get(path)
        assert page.status_code == 200, path
    assert b"admin?" in admin_client.get("/admin/responses/question/").content
