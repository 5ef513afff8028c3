"""Writes in dialects without a confirmation protocol (BI, Julep), end to end: the request answers at
once with the pending change and how to approve it, the session stays usable, and approving or
denying continues the run. Real daphne + Celery worker, scripted LLM, a writable demo copy."""

import time
import uuid

import pytest

from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sources import query, tenant_source

from .conftest import Api

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REFUND_SQL = "SELECT issue_credit(5, 20.00) AS credit_id"
REFUND_CODE = f'rows = executor.run_sql("{REFUND_SQL}")\nexecutor.print(f"credit {{rows[0][\'credit_id\']}}")'


def credits(url: str) -> int:
    return query(url, "SELECT COUNT(*) FROM credit")[0][0]


@pytest.fixture
def writable(fresh_demo_url):
    tenant = f"writes-{uuid.uuid4().hex[:6]}"
    tenant_source(fresh_demo_url, tenant=tenant)
    return tenant, fresh_demo_url


def script_refund(llm, question: str, after: str):
    llm.script([tool_call(REFUND_CODE, text="I'll issue the credit."), text(after)], match=question)


def check_pending(change: dict, decide_path: str):
    assert change["sql"] == REFUND_SQL and change["status"] == "PENDING"
    uuid.UUID(change["confirmation_id"])
    assert change["approve"] == {"method": "POST", "path": decide_path, "body": {"approve": True}}
    assert change["deny"]["body"] == {"approve": False}
    assert change["chat_page"] == f"/#/t/{change['thread_id']}"
    assert change["admin"] == f"/admin/threads/confirmation/{change['confirmation_id']}/change/"


def test_bi_write_answers_at_once_then_approve_deny_and_withdraw(stack, llm, writable):
    tenant, url = writable
    user = api_user(tenant=tenant)
    api = Api(stack.base_url, None)
    auth = headers(user)
    session_id = api.post("/api/v1/bi/sessions", json={"user_id": "u1"}, headers=auth).json()["session_id"]
    base = f"/api/v1/bi/sessions/{session_id}"
    before = credits(url)

    # The write: answered at once with the change, nothing written yet.
    script_refund(llm, "Refund customer 5 $20", "Done: customer 5 has a $20 credit.")
    asked = api.post(f"{base}/messages", json={"message": "Refund customer 5 $20"}, headers=auth)
    assert asked.status_code == 200, asked.text
    body = asked.json()
    change = body["pending_confirmation"]
    path = f"{base}/confirmations/{change['confirmation_id']}"
    check_pending(change, path)
    assert body["sql"] == REFUND_SQL and REFUND_SQL in body["response"] and path in body["response"]
    assert credits(url) == before

    # The session is not blocked: reads work, and GET shows the change waiting.
    assert api.get(f"{base}/history", headers=auth).status_code == 200
    shown = api.get(base, headers=auth).json()
    assert shown["pending_confirmation"]["confirmation_id"] == change["confirmation_id"]
    assert api.delete(base, headers=auth).status_code == 409  # a delete waits for the decision

    # Approving continues the run: the answer is the turn's, and the credit is written once.
    approved = api.post(path, json={"approve": True}, headers=auth)
    assert approved.status_code == 200, approved.text
    assert approved.json()["response"] == "Done: customer 5 has a $20 credit." and approved.json()["pending_confirmation"] is None
    assert credits(url) == before + 1
    assert api.post(path, json={"approve": True}, headers=auth).status_code == 409  # decided already
    shown = api.get(base, headers=auth).json()
    assert shown["pending_confirmation"] is None
    assert shown["last_turn"]["status"] == "completed"
    assert shown["last_turn"]["confirmations"] == [{"confirmation_id": change["confirmation_id"], "sql": REFUND_SQL, "status": "APPROVED"}]

    # Denying: the model is told, nothing is written.
    script_refund(llm, "Refund again", "Understood, I did not issue the credit.")
    change = api.post(f"{base}/messages", json={"message": "Refund again"}, headers=auth).json()["pending_confirmation"]
    denied = api.post(f"{base}/confirmations/{change['confirmation_id']}", json={"approve": False}, headers=auth)
    assert denied.status_code == 200 and denied.json()["response"] == "Understood, I did not issue the credit."
    tool_result = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert "did not approve" in tool_result
    assert credits(url) == before + 1

    # Another message while a change waits withdraws it (CANCELLED, not written) and is answered.
    script_refund(llm, "One more refund", "unused")
    change = api.post(f"{base}/messages", json={"message": "One more refund"}, headers=auth).json()["pending_confirmation"]
    llm.script(text("Hello again."), match="never mind")
    moved_on = api.post(f"{base}/messages", json={"message": "never mind, hello"}, headers=auth)
    assert moved_on.status_code == 200 and moved_on.json()["response"] == "Hello again.", moved_on.text
    late = api.post(f"{base}/confirmations/{change['confirmation_id']}", json={"approve": True}, headers=auth)
    assert late.status_code == 409 and "CANCELLED" in late.json()["detail"]
    assert credits(url) == before + 1

    # Bad decisions are 4xx: an unknown id, another session's, a body that is not a boolean.
    assert api.post(f"{base}/confirmations/{uuid.uuid4()}", json={"approve": True}, headers=auth).status_code == 404
    assert api.post(f"{base}/confirmations/not-a-uuid", json={"approve": True}, headers=auth).status_code == 404
    assert api.post(f"{base}/confirmations/{uuid.uuid4()}", json={"approve": "yes"}, headers=auth).status_code == 400
    stranger = headers(api_user(tenant="someone-else"))
    assert api.post(path, json={"approve": True}, headers=stranger).status_code == 404


def test_julep_chat_write_answers_at_once_then_approve(stack, llm, writable):
    tenant, url = writable
    api = Api(stack.base_url, None)
    auth = headers(api_user(tenant=tenant))
    agent_id = api.post("/api/agents", json={"name": "Ops", "about": "Issues credits."}, headers=auth).json()["id"]
    session_id = api.post("/api/sessions", json={"agent_id": agent_id}, headers=auth).json()["id"]
    before = credits(url)

    script_refund(llm, "Refund customer 5 $20", "Customer 5 now has a $20 credit.")
    asked = api.post(f"/api/sessions/{session_id}/chat", json={"messages": [{"role": "user", "content": "Refund customer 5 $20"}]},
                     headers=auth)
    assert asked.status_code == 200, asked.text
    body = asked.json()
    change = body["pending_confirmation"]
    path = f"/api/sessions/{session_id}/confirmations/{change['confirmation_id']}"
    check_pending(change, path)
    [[message]] = body["response"]
    assert message["role"] == "assistant" and REFUND_SQL in message["content"] and path in message["content"]
    assert credits(url) == before

    approved = api.post(path, json={"approve": True}, headers=auth)
    assert approved.status_code == 200, approved.text
    [[reply]] = approved.json()["response"]
    assert reply["content"] == "Customer 5 now has a $20 credit." and "pending_confirmation" not in approved.json()
    assert credits(url) == before + 1
    history = api.get(f"/api/sessions/{session_id}/history", headers=auth).json()["items"]
    assert [(m["role"], m["content"]) for m in history][-1] == ("assistant", "Customer 5 now has a $20 credit.")


def test_a_change_approved_elsewhere_shows_on_get(stack, llm, writable):
    """Approved through the engine's own endpoint (what the chat page calls): a GET shows the outcome."""
    tenant, url = writable
    user = api_user(tenant=tenant)
    api = Api(stack.base_url, None)
    auth = headers(user)
    session_id = api.post("/api/v1/bi/sessions", json={"user_id": "u1"}, headers=auth).json()["session_id"]
    script_refund(llm, "Refund customer 5 $20", "Credit issued.")
    change = api.post(f"/api/v1/bi/sessions/{session_id}/messages", json={"message": "Refund customer 5 $20"},
                      headers=auth).json()["pending_confirmation"]
    decided = api.post(f"/threads/{change['thread_id']}/user_confirmation",
                       json={"confirmation_id": change["confirmation_id"], "confirm": True}, headers=auth)
    assert decided.status_code == 200, decided.text
    for _ in range(200):
        turn = api.get(f"/api/v1/bi/sessions/{session_id}", headers=auth).json()["last_turn"]
        if turn["status"] == "completed":
            break
        time.sleep(0.1)
    assert turn["response"] == "Credit issued." and turn["confirmations"][0]["status"] == "APPROVED"
