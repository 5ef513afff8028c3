"""The operator's limits are ceilings, end to end: real daphne + Celery worker, the scripted LLM, plain
HTTP clients. The operator allows gpt-4o-mini (the default) and gpt-4o, and at most 4 steps a run."""

import json
import uuid

import pytest
import requests

from assistants.models import Assistant
from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sse import sse_frames

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ALLOWED = "gpt-4o-mini, gpt-4o"


@pytest.fixture(scope="module")
def limited(stack_factory, scripted_llm):
    return stack_factory({"QUERENT_ALLOWED_MODELS": "gpt-4o-mini,gpt-4o", "QUERENT_MAX_STEPS": "4"},
                         llm_base_url=scripted_llm.base_url)


@pytest.fixture
def alice(transactional_db):
    return headers(api_user(user_id=f"alice-{uuid.uuid4().hex[:6]}"))


def new_thread(base, h, configurable=None):
    assistant = requests.post(f"{base}/assistants", headers=h, json={"name": "a", "config": {"configurable": configurable or {}}})
    assert assistant.status_code == 200, assistant.text
    thread = requests.post(f"{base}/threads", headers=h, json={"name": "t", "assistant_id": assistant.json()["assistant_id"]})
    return thread.json()["thread_id"]


def stream_run(base, h, thread_id, question, configurable):
    response = requests.post(f"{base}/runs/stream", headers=h, stream=True, timeout=120, json={
        "thread_id": thread_id, "input": [{"content": question, "type": "human"}], "config": {"configurable": configurable}})
    assert response.status_code == 200, response.text
    events = list(sse_frames(response))
    assert events[-1][0] == "end", events
    return json.loads([d for e, d in events if e == "data"][-1])


def asked(llm, question):
    return [r for r in llm.requests if any(question in str(m.get("content")) for m in r["messages"])]


def test_opengpts_run_max_steps_over_the_cap_is_400(limited, llm, alice):
    base = limited.base_url
    thread_id = new_thread(base, alice)
    for path in ("/runs", "/runs/stream"):
        for value in (1_000_000, 5, 0, -1, "2", 2.5):
            response = requests.post(f"{base}{path}", headers=alice, timeout=30, json={
                "thread_id": thread_id, "input": [{"content": "hi", "type": "human"}],
                "config": {"configurable": {"max_steps": value}}})
            assert response.status_code == 400, (path, value, response.text)
            detail = response.json()["detail"]
            assert "configurable.max_steps" in detail and "from 1 to 4" in detail and "QUERENT_MAX_STEPS" in detail, detail
    assert requests.get(f"{base}/threads/{thread_id}/state", headers=alice).json()["values"] == []  # nothing ran
    assert llm.requests == []


def test_opengpts_run_with_a_lower_max_steps_stops_there(limited, llm, alice):
    base = limited.base_url
    thread_id = new_thread(base, alice)
    question = f"loop forever {uuid.uuid4().hex[:6]}"
    llm.script([tool_call("executor.print(1)", call_id="call_one"), tool_call("executor.print(2)"), text("Never reached.")], match=question)
    final = stream_run(base, alice, thread_id, question, {"max_steps": 1})
    assert [m["type"] for m in final][:2] == ["ai", "tool"]
    state = requests.get(f"{base}/threads/{thread_id}/state", headers=alice).json()["values"]
    assert state[-1]["type"] == "ai" and "stopped after 1 steps" in state[-1]["content"]
    assert len(asked(llm, question)) == 1  # one model call: the run's own, lower, limit

    # Without a request the operator's cap applies: 4 model calls, then the run stops.
    question = f"loop on {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(f"executor.print({i})") for i in range(6)], match=question)
    stream_run(base, alice, thread_id, question, {})
    assert len(asked(llm, question)) == 4
    state = requests.get(f"{base}/threads/{thread_id}/state", headers=alice).json()["values"]
    assert "stopped after 4 steps" in state[-1]["content"]


def test_opengpts_disallowed_model_is_400_and_allowed_ones_reach_the_provider(limited, llm, alice):
    base = limited.base_url
    refused = requests.post(f"{base}/assistants", headers=alice, json={"name": "a", "config": {"configurable": {"model": "o1-pro"}}})
    assert refused.status_code == 400 and "'o1-pro' is not allowed" in refused.json()["detail"] and ALLOWED in refused.json()["detail"]

    thread_id = new_thread(base, alice, {"model": "gpt-4o"})
    assistant_id = requests.get(f"{base}/threads/{thread_id}", headers=alice).json()["assistant_id"]
    changed = requests.put(f"{base}/assistants/{assistant_id}", headers=alice, json={"name": "a", "config": {"configurable": {"model": "o3"}}})
    assert changed.status_code == 400 and "'o3'" in changed.json()["detail"]

    for path in ("/runs", "/runs/stream"):
        response = requests.post(f"{base}{path}", headers=alice, timeout=30, json={
            "thread_id": thread_id, "input": [{"content": "hi", "type": "human"}], "config": {"configurable": {"model": "o1-pro"}}})
        assert response.status_code == 400 and "configurable.model 'o1-pro' is not allowed" in response.json()["detail"]
        assert ALLOWED in response.json()["detail"]
    assert llm.requests == []

    question = f"which model {uuid.uuid4().hex[:6]}"
    llm.script([text("The assistant's.")], match=question)
    stream_run(base, alice, thread_id, question, {})
    assert asked(llm, question)[-1]["model"] == "gpt-4o"  # the assistant's allowed model
    question = f"default please {uuid.uuid4().hex[:6]}"
    llm.script([text("The run's.")], match=question)
    stream_run(base, alice, thread_id, question, {"model": "gpt-4o-mini"})
    assert asked(llm, question)[-1]["model"] == "gpt-4o-mini"  # the run's own choice, also allowed


def test_a_stored_assistant_whose_model_is_not_allowed_runs_on_the_default(limited, llm, alice):
    """Defense in depth: an assistant written around the APIs (or before the operator narrowed the
    list) never makes the worker call its model."""
    base = limited.base_url
    thread_id = new_thread(base, alice)
    assistant_id = requests.get(f"{base}/threads/{thread_id}", headers=alice).json()["assistant_id"]
    Assistant.objects.filter(pk=assistant_id).update(model="o1-pro")
    question = f"stale model {uuid.uuid4().hex[:6]}"
    llm.script([text("Answered by the default.")], match=question)
    final = stream_run(base, alice, thread_id, question, {})
    assert final[-1]["content"] == "Answered by the default."
    assert asked(llm, question)[-1]["model"] == "gpt-4o-mini"


def test_julep_agent_with_a_disallowed_model_is_400(limited, llm, alice):
    base = limited.base_url
    for body in ({"name": "x", "model": "o1-pro"}, {"name": "x", "model": "claude-3-opus"}):
        refused = requests.post(f"{base}/api/agents", headers=alice, json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["detail"].startswith(f"model: model '{body['model']}' is not allowed") and ALLOWED in refused.json()["detail"]
    agent = requests.post(f"{base}/api/agents", headers=alice, json={"name": "x", "about": "", "model": "gpt-4o"})
    assert agent.status_code == 201, agent.text
    agent_id = agent.json()["id"]
    for method in ("put", "patch"):
        refused = getattr(requests, method)(f"{base}/api/agents/{agent_id}", headers=alice, json={"name": "x", "about": "", "model": "o1-pro"})
        assert refused.status_code == 400 and "o1-pro" in refused.json()["detail"]
    assert requests.get(f"{base}/api/agents/{agent_id}", headers=alice).json()["model"] == "gpt-4o"

    # The agent's allowed model is the one its sessions' runs call.
    session_id = requests.post(f"{base}/api/sessions", headers=alice, json={"agent_id": agent_id}).json()["id"]
    question = f"julep model {uuid.uuid4().hex[:6]}"
    llm.script([text("Hello from gpt-4o.")], match=question)
    chat = requests.post(f"{base}/api/sessions/{session_id}/chat", headers=alice, timeout=120,
                         json={"messages": [{"role": "user", "content": question}]})
    assert chat.status_code == 200, chat.text
    assert asked(llm, question)[-1]["model"] == "gpt-4o"
