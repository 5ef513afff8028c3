"""Writes in the Dataherald dialect (seed 001), end to end: a question whose SQL changes data answers
at once with the pending change (its exact SQL, its id, how to approve), nothing is written until a
person decides, and a GET of the response shows the outcome. Real daphne + Celery worker, the
scripted LLM, a writable demo copy with the declared issue_credit action."""

import time
import uuid

import pytest

from tests.fakes.llm_server import text
from tests.support.dataherald import call, check_pending, deny_and_check
from tests.support.principals import api_user
from tests.support.sources import query, tenant_source

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REFUND_SQL = "SELECT issue_credit(7, 15.00) AS credit_id"


def credits(url: str) -> int:
    return query(url, "SELECT COUNT(*) FROM credit WHERE customer_id = 7")[0][0]


@pytest.fixture
def writable(fresh_demo_url):
    tenant = f"dhw-{uuid.uuid4().hex[:6]}"
    return tenant, tenant_source(fresh_demo_url, tenant=tenant), fresh_demo_url


def ask_refund(stack, llm, user, source) -> dict:
    question = f"Refund customer 7 $15 ({uuid.uuid4().hex[:6]})"
    llm.script([text(f"```sql\n{REFUND_SQL}\n```")], match=question)
    asked = call(stack, user, "POST", "/api/v1/questions", json={"db_connection_id": str(source.id), "question": question})
    assert asked.status_code == 201, asked.text
    return asked.json()


def test_write_answers_at_once_then_approve_once(stack, llm, writable):
    tenant, source, url = writable
    user = api_user(tenant=tenant)
    before = credits(url)

    body = ask_refund(stack, llm, user, source)
    change, path = check_pending(body, REFUND_SQL)
    assert credits(url) == before  # nothing written while it waits
    shown = call(stack, user, "GET", f"/api/v1/responses/{body['id']}").json()
    assert shown["pending_confirmation"]["confirmation_id"] == change["confirmation_id"]

    # Someone else, even in the same tenant, neither sees nor decides it.
    for other in (api_user(tenant=tenant), api_user(tenant="someone-else")):
        assert call(stack, other, "GET", f"/api/v1/responses/{body['id']}").status_code == 404
        assert call(stack, other, "POST", path, json={"approve": True}).status_code == 404
    assert call(stack, user, "POST", f"/api/v1/responses/{body['id']}/confirmations/{uuid.uuid4()}", json={"approve": True}).status_code == 404
    assert call(stack, user, "POST", path, json={"approve": "yes"}).status_code == 400
    assert credits(url) == before

    approved = call(stack, user, "POST", path, json={"approve": True})
    assert approved.status_code == 200, approved.text
    done = approved.json()
    assert done["sql_generation_status"] == "VALID" and done["pending_confirmation"] is None and done["error_message"] is None
    assert done["sql_query_result"]["columns"] == ["credit_id"] and len(done["sql_query_result"]["rows"]) == 1
    assert done["confirmation"]["status"] == "APPROVED"
    assert credits(url) == before + 1

    again = call(stack, user, "POST", path, json={"approve": True})
    assert again.status_code == 409 and "APPROVED" in again.json()["detail"]
    shown = call(stack, user, "GET", f"/api/v1/responses/{body['id']}").json()
    assert shown["sql_generation_status"] == "VALID" and shown["sql_query_result"] == done["sql_query_result"]
    assert credits(url) == before + 1  # exactly once


def test_deny_writes_nothing(stack, llm, writable):
    tenant, source, url = writable
    user = api_user(tenant=tenant)
    before = credits(url)
    body = ask_refund(stack, llm, user, source)
    _, path = check_pending(body, REFUND_SQL)
    deny_and_check(stack, user, path)
    assert credits(url) == before


def test_approved_through_the_engine_endpoint_shows_on_get(stack, llm, writable):
    """What the chat page calls: the same confirmation, decided on its thread."""
    tenant, source, url = writable
    user = api_user(tenant=tenant)
    before = credits(url)
    body = ask_refund(stack, llm, user, source)
    change, _ = check_pending(body, REFUND_SQL)
    thread = call(stack, user, "GET", f"/threads/{change['thread_id']}")
    assert thread.status_code == 200  # the question's owner finds it in the chat page
    decided = call(stack, user, "POST", f"/threads/{change['thread_id']}/user_confirmation",
                   json={"confirmation_id": change["confirmation_id"], "confirm": True})
    assert decided.status_code == 200, decided.text
    for _ in range(300):
        shown = call(stack, user, "GET", f"/api/v1/responses/{body['id']}").json()
        if shown["sql_generation_status"] != "NONE":
            break
        time.sleep(0.1)
    assert shown["sql_generation_status"] == "VALID" and shown["confirmation"]["status"] == "APPROVED"
    assert credits(url) == before + 1
