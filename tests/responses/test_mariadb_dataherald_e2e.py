"""Dataherald's questions and responses over a MariaDB data source, end to end: real daphne + Celery
worker, the scripted LLM, the session's own MariaDB (tests/fixtures/mariadb.py) with a private
Chinook copy per test. A question reads (the rows come back); a question whose SQL changes data
answers at once with the pending change, runs exactly once when approved (checked in MariaDB
itself; a second decision is a 409) and never when denied."""

import uuid

import pytest

from tests.fakes.llm_server import text
from tests.support.dataherald import call, check_pending, deny_and_check
from tests.support.principals import api_user
from tests.support.sources import query, tenant_source

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

READ_SQL = ("SELECT g.name AS genre, COUNT(*) AS tracks FROM track t JOIN genre g ON g.id = t.genre_id "
            "GROUP BY g.name ORDER BY tracks DESC, g.name LIMIT 5")
CREDIT_SQL = "SELECT issue_credit(5, 20.00) AS credit_id"  # the declared action, a stored function here
RENAME_SQL = "UPDATE customer SET company = 'Querent Test Co' WHERE id = 5"  # a plain write, no action
CHANGES = {  # each write, and how to see in MariaDB what it did
    "action": (CREDIT_SQL, "SELECT customer_id, amount FROM credit", [(5, 20)]),
    "update": (RENAME_SQL, "SELECT id FROM customer WHERE company = 'Querent Test Co'", [(5,)]),
}


@pytest.fixture
def maria(fresh_mariadb_demo_url):
    """A tenant's own MariaDB connection (writable with approval), a user of that tenant, the URL."""
    tenant = f"dhm-{uuid.uuid4().hex[:6]}"
    source = tenant_source(fresh_mariadb_demo_url, tenant=tenant, name="Chinook on MariaDB")
    return source, api_user(tenant=tenant), fresh_mariadb_demo_url


def ask(stack, llm, user, source, question: str, replies: list) -> dict:
    question = f"{question} ({uuid.uuid4().hex[:6]})"
    llm.script(replies, match=question)
    asked = call(stack, user, "POST", "/api/v1/questions", json={"db_connection_id": str(source.id), "question": question})
    assert asked.status_code == 201, asked.text
    return asked.json()


def ask_change(stack, llm, user, source, sql: str) -> tuple[dict, dict, str]:
    body = ask(stack, llm, user, source, "Make this change", [text(f"```sql\n{sql}\n```")])
    change, path = check_pending(body, sql)
    return body, change, path


def test_a_read_returns_the_rows(stack, llm, maria):
    source, user, url = maria
    body = ask(stack, llm, user, source, "Which genres have the most tracks?",
               [text(f"```sql\n{READ_SQL}\n```"), text("Rock has the most tracks.")])
    assert body["sql_generation_status"] == "VALID" and body["pending_confirmation"] is None, body
    assert body["sql_query_result"]["columns"] == ["genre", "tracks"]
    assert [(r["genre"], r["tracks"]) for r in body["sql_query_result"]["rows"]] == query(url, READ_SQL)
    assert "MySQL" in llm.requests[-2]["messages"][0]["content"]  # the model was told the dialect


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_a_write_waits_then_runs_exactly_once_when_approved(stack, llm, maria, kind):
    source, user, url = maria
    sql, check, expected = CHANGES[kind]
    before = query(url, check)
    body, change, path = ask_change(stack, llm, user, source, sql)
    assert query(url, check) == before  # nothing written while it waits
    shown = call(stack, user, "GET", f"/api/v1/responses/{body['id']}").json()
    assert shown["pending_confirmation"]["confirmation_id"] == change["confirmation_id"]

    approved = call(stack, user, "POST", path, json={"approve": True})
    assert approved.status_code == 200, approved.text
    done = approved.json()
    assert done["sql_generation_status"] == "VALID" and done["error_message"] is None, done
    assert done["pending_confirmation"] is None and done["confirmation"]["status"] == "APPROVED"
    assert query(url, check) == expected

    for decision in (True, False):
        again = call(stack, user, "POST", path, json={"approve": decision})
        assert again.status_code == 409 and "APPROVED" in again.json()["detail"]
    shown = call(stack, user, "GET", f"/api/v1/responses/{body['id']}").json()
    assert shown["sql_generation_status"] == "VALID" and shown["sql_query_result"] == done["sql_query_result"]
    assert query(url, check) == expected  # exactly once


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_a_denied_write_never_runs(stack, llm, maria, kind):
    source, user, url = maria
    sql, check, _ = CHANGES[kind]
    before = query(url, check), query(url, "SELECT * FROM customer ORDER BY id"), query(url, "SELECT * FROM credit")
    _, _, path = ask_change(stack, llm, user, source, sql)

    deny_and_check(stack, user, path)
    assert (query(url, check), query(url, "SELECT * FROM customer ORDER BY id"), query(url, "SELECT * FROM credit")) == before
