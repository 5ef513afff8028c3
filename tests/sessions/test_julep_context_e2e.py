"""Julep sessions' token budget (summary in the background, or truncation) and streamed chat, end to
end against the live stack with the scripted model; and the offline demo model's summary."""

import json
import time
import uuid

import httpx
import pytest

from sessions import julep_context
from tests.fakes.llm_server import error, text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sources import query, tenant_source

from .conftest import Api

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LONG = "about the quarterly numbers and what they mean for the team " * 3  # ~45 tokens


def new_session(api, auth, **fields) -> str:
    agent_id = api.post("/api/agents", json={"name": "Analyst"}, headers=auth).json()["id"]
    created = api.post("/api/sessions", json={"agent_id": agent_id, **fields}, headers=auth)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def chat(api, auth, session_id, content, **options):
    answered = api.post(f"/api/sessions/{session_id}/chat", json={"messages": [{"role": "user", "content": content}], **options},
                        headers=auth)
    assert answered.status_code == 200, answered.text
    return answered.json()


def wait_for_summary(api, auth, session_id) -> str:
    for _ in range(300):
        summary = api.get(f"/api/sessions/{session_id}", headers=auth).json()["summary"]
        if summary:
            return summary
        time.sleep(0.1)
    raise AssertionError("no summary was written")


def test_adaptive_budget_summarises_in_the_background_and_the_model_sees_the_summary(stack, llm, shared_demo):
    api = Api(stack.base_url, None)
    auth = headers(api_user(tenant=f"ctx-{uuid.uuid4().hex[:6]}"))
    session_id = new_session(api, auth, token_budget=150, context_overflow="adaptive")  # two turns fit, three do not
    # Scripted first: the summary request's transcript holds every turn's text, and matches are tried in order.
    llm.script(text("SUMMARY: the user asked about quarterly numbers three times; all steady."), match="User: Turn 0")
    for turn in range(3):
        llm.script(text(f"Answer {turn}: the numbers look steady."), match=f"Turn {turn}")
    for turn in range(2):
        chat(api, auth, session_id, f"Turn {turn} {LONG}")
    assert api.get(f"/api/sessions/{session_id}", headers=auth).json()["summary"] is None  # still within budget
    chat(api, auth, session_id, f"Turn 2 {LONG}")
    summary = wait_for_summary(api, auth, session_id)
    assert summary == "SUMMARY: the user asked about quarterly numbers three times; all steady."
    asked = [r for r in llm.requests if r["messages"][0]["content"].startswith(julep_context.SUMMARY_REQUEST)]
    assert len(asked) == 1 and "User: Turn 0" in asked[0]["messages"][1]["content"]

    # The next turn: the summary in the system prompt, the folded turns no longer sent.
    llm.script(text("Noted."), match="Turn 3")
    chat(api, auth, session_id, "Turn 3 and now?")
    sent = llm.requests[-1]["messages"]
    assert f"Summary of the conversation so far: {summary}" in sent[0]["content"]
    users = [m["content"] for m in sent if m["role"] == "user"]
    assert not any(u.startswith("Turn 0") for u in users) and users[-1] == "Turn 3 and now?"
    # Clearing the history forgets the summary with it.
    assert api.delete(f"/api/sessions/{session_id}/history", headers=auth).status_code == 202
    assert api.get(f"/api/sessions/{session_id}", headers=auth).json()["summary"] is None


def test_truncate_budget_sends_only_the_newest_turns_and_keeps_no_summary(stack, llm, shared_demo):
    api = Api(stack.base_url, None)
    auth = headers(api_user(tenant=f"ctx-{uuid.uuid4().hex[:6]}"))
    session_id = new_session(api, auth, token_budget=120, context_overflow="truncate")
    for turn in range(4):
        llm.script(text(f"Answer {turn}."), match=f"Turn {turn}")
        chat(api, auth, session_id, f"Turn {turn} {LONG}")
    sent = llm.requests[-1]["messages"]
    users = [m["content"] for m in sent if m["role"] == "user"]
    assert users[-1].startswith("Turn 3") and not any(u.startswith("Turn 0") for u in users)
    assert sent[0]["role"] == "system"  # the system prompt is never cut
    time.sleep(0.5)
    assert api.get(f"/api/sessions/{session_id}", headers=auth).json()["summary"] is None
    assert not any(r["messages"][0]["content"].startswith(julep_context.SUMMARY_REQUEST) for r in llm.requests)
    # Without a budget the whole history is sent.
    unbounded = new_session(api, auth)
    for turn in range(3):
        llm.script(text("ok"), match=f"Free {turn}")
        chat(api, auth, unbounded, f"Free {turn} {LONG}")
    assert [m["content"][:6] for m in llm.requests[-1]["messages"] if m["role"] == "user"] == ["Free 0", "Free 1", "Free 2"]


def stream(stack, auth, session_id, content) -> tuple[int, str, list]:
    frames = []
    with httpx.stream("POST", f"{stack.base_url}/api/sessions/{session_id}/chat", headers=auth, timeout=60,
                      json={"messages": [{"role": "user", "content": content}], "stream": True}) as response:
        kind = response.headers.get("content-type", "")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
                frames.append((event, data if data == "[DONE]" else json.loads(data)))
                event = None
        return response.status_code, kind, frames


def test_streamed_chat_sends_deltas_then_done(stack, llm, shared_demo, fresh_demo_url):
    api = Api(stack.base_url, None)
    tenant = f"ctx-{uuid.uuid4().hex[:6]}"
    auth = headers(api_user(tenant=tenant))
    session_id = new_session(api, auth)
    llm.script(text("The numbers look steady this quarter.", chunks=5), match="How are the numbers")
    code, kind, frames = stream(stack, auth, session_id, "How are the numbers?")
    assert code == 200 and kind.startswith("text/event-stream")
    assert frames[-1] == (None, "[DONE]")
    chunks = [data for _, data in frames[:-1]]
    assert len(chunks) >= 3  # several deltas, then the closing chunk
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "The numbers look steady this quarter."
    assert all(c["id"] == chunks[0]["id"] and c["choices"][0]["delta"]["role"] == "assistant" for c in chunks)
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop" and chunks[-1]["usage"]["total_tokens"] > 0
    history = api.get(f"/api/sessions/{session_id}/history", headers=auth).json()["items"]
    assert [(m["role"], m["content"]) for m in history] == [("user", "How are the numbers?"),
                                                            ("assistant", "The numbers look steady this quarter.")]

    # A write while streaming: the stream ends with the change to approve, nothing written.
    writable = tenant_source(fresh_demo_url, tenant=tenant, name="Writable")
    agent_id = api.post("/api/agents", json={"name": "Ops", "data_source_id": str(writable.id)}, headers=auth).json()["id"]
    writes = api.post("/api/sessions", json={"agent_id": agent_id}, headers=auth).json()["id"]
    refund = "SELECT issue_credit(5, 20.00) AS credit_id"
    before = query(fresh_demo_url, "SELECT COUNT(*) FROM credit")[0][0]
    llm.script([tool_call(f'executor.run_sql("{refund}")', text="Issuing it."), text("Done.")], match="Refund customer 5")
    code, _, frames = stream(stack, auth, writes, "Refund customer 5 $20")
    assert code == 200 and frames[-1] == (None, "[DONE]")
    last = frames[-2][1]
    change = last["pending_confirmation"]
    assert change["sql"] == refund and refund in last["choices"][0]["delta"]["content"]
    assert query(fresh_demo_url, "SELECT COUNT(*) FROM credit")[0][0] == before
    approved = api.post(change["approve"]["path"], json={"approve": True}, headers=auth)
    assert approved.status_code == 200 and approved.json()["response"][0][0]["content"] == "Done."
    assert query(fresh_demo_url, "SELECT COUNT(*) FROM credit")[0][0] == before + 1

    # A failed run: `event: error`, then [DONE].
    llm.script(error(400, "bad request for this model"), match="break please")
    code, _, frames = stream(stack, auth, session_id, "break please")
    assert code == 200 and frames[-1] == (None, "[DONE]") and frames[-2][0] == "error"
    assert "language model failed" in frames[-2][1]["detail"]


def test_demo_model_summary_is_sensible(transactional_db, settings):
    """No model configured: the summary comes from the offline demo model through the same client."""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    from assistants.models import Assistant
    from config.identity import Principal
    from sessions import services
    from threads import services as engine

    principal = Principal(tenant="demo", user_id="u")
    agent = Assistant(name="Demo")
    agent.assign_owner(principal)
    agent.save()
    session = services.create_julep_session(principal, agent=agent, user=None, fields={"token_budget": 40})
    for question, answer in [("How many tracks are there?", "There are 3503 tracks. Most are rock."),
                             ("Which genre sells best?", "Rock sells best. Latin is second.")]:
        engine.add_message(session.thread, role="human", content=question)
        engine.add_message(session.thread, role="ai", content=answer)
    summary = julep_context.summarise(session.id)
    assert summary is not None and "How many tracks are there?" in summary and "There are 3503 tracks." in summary
    assert "Demo model" in summary  # labelled, as every demo answer is
    session.refresh_from_db()
    assert session.summary == summary and julep_context.summarised_through(session) >= 2
